using VectorRecall.Training;
using VectorRecall.Autograd;
using VectorRecall.Numerics;

namespace VectorRecall.TwoTower;

/// <summary>
/// SimpleX's cosine contrastive loss over unit-norm towers: each example's own positive against sampled
/// negatives (shared by the batch: one GEMM, so a thousand of them cost little). A negative that is the
/// example's own positive item is masked out. See <see cref="Ops.CosineContrastive"/>.
/// </summary>
internal sealed class CosineContrastiveLoss
{
    public CosineContrastiveLoss(float margin, float negativeWeight)
    {
        if (!(margin > -1 && margin < 1)) throw new ArgumentOutOfRangeException(nameof(margin), $"margin {margin} must be in (-1, 1)");
        if (!(negativeWeight >= 0)) throw new ArgumentOutOfRangeException(nameof(negativeWeight), $"negative weight {negativeWeight} must be >= 0");
        Margin = margin;
        NegativeWeight = negativeWeight;
    }

    public float Margin { get; }
    public float NegativeWeight { get; }

    /// <summary>
    /// Users [B × d], their positives [B × d] with item ids, negatives [n × d] shared by every row (or with
    /// <paramref name="shared"/> false, [B·n × d] with row b's at rows b·n ..) with their ids.
    /// </summary>
    public Variable Forward(Variable users, Variable positives, ReadOnlySpan<int> positiveIds, Variable negatives, ReadOnlySpan<int> negativeIds, bool shared)
    {
        int b = users.Rows;
        if (positives.Rows != b || positiveIds.Length != b) throw new ArgumentException($"{b} users but {positives.Rows} positives and {positiveIds.Length} positive ids");
        if (negativeIds.Length != negatives.Rows) throw new ArgumentException($"{negatives.Rows} negatives but {negativeIds.Length} negative ids");
        if (!shared && negatives.Rows % Math.Max(1, b) != 0) throw new ArgumentException($"{negatives.Rows} negatives do not divide among {b} rows");
        int n = shared ? negatives.Rows : negatives.Rows / Math.Max(1, b);
        var positive = Ops.GroupedDot(users, positives);
        var negative = shared ? Ops.MatMul(users, negatives, transposeB: true) : Ops.GroupedDot(users, negatives);
        var mask = MaskBuffer(b, n);
        for (int r = 0; r < b; r++)
        {
            mask.Row(r).Clear();
            InfoNceLoss.MaskEqual(negativeIds.Slice(shared ? 0 : r * n, n), positiveIds[r], mask.Row(r), except: -1);
        }
        negative = Ops.Add(negative, mask);
        return Ops.CosineContrastive(positive, negative, Margin, NegativeWeight);
    }

    private Tensor? _mask;

    /// <summary>The accidental-hit mask, reused from step to step (the loss serves one training loop at a time).</summary>
    private Tensor MaskBuffer(int rows, int cols)
    {
        if (_mask is null || _mask.Rows != rows || _mask.Cols != cols) _mask = new Tensor(rows, cols);
        return _mask;
    }
}
