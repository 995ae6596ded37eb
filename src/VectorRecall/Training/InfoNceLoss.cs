using VectorRecall.Autograd;
using VectorRecall.Numerics;

namespace VectorRecall.Training;

/// <summary>
/// InfoNCE over in-batch and sampled negatives. Row b's candidates are every positive in the batch
/// (column b is its own) followed by its own sampled negatives; the loss is the cross-entropy of
/// softmax(logits) against column b. Logits are s/τ − log q: the logQ correction (Yi et al., 2019)
/// subtracts the log-probability that the candidate is drawn as a negative (its share of training
/// positives for in-batch columns, the sampler's probability for sampled ones), so that popular
/// items are not pushed down merely for appearing often. Accidental hits — a candidate that is the
/// row's own positive item — are masked out. Sampled negatives are either each row's own or, with
/// <c>shared</c>, one set scored by every row (mixed negative sampling, Yang et al., 2020): a GEMM
/// instead of a grouped dot, so thousands of uniform negatives cost little.
/// </summary>
internal sealed class InfoNceLoss
{
    /// <summary>Added to a masked logit; its softmax weight is exactly zero in float arithmetic.</summary>
    public const float MaskedLogit = -1e9f;

    public InfoNceLoss(float temperature = 0.1f, bool logQCorrection = true, bool maskAccidentalHits = true)
    {
        if (!(temperature > 0)) throw new ArgumentOutOfRangeException(nameof(temperature), $"temperature {temperature} must be positive");
        Temperature = temperature;
        LogQCorrection = logQCorrection;
        MaskAccidentalHits = maskAccidentalHits;
    }

    public float Temperature { get; }
    public bool LogQCorrection { get; }
    public bool MaskAccidentalHits { get; }

    /// <summary>
    /// The corrected logits [B × (B + n)]: users [B × d], positives [B × d] with their item ids,
    /// negatives with their ids, or null for in-batch only: [B·n × d] with row b's at rows b·n ..,
    /// or with <paramref name="shared"/> [n × d] for every row. <paramref name="positiveLogQ"/>[b] and
    /// <paramref name="negativeLogQ"/> (one per negative row) are log q of each candidate.
    /// </summary>
    public Variable Logits(Variable users, Variable positives, ReadOnlySpan<int> positiveIds, ReadOnlySpan<float> positiveLogQ,
        Variable? negatives, ReadOnlySpan<int> negativeIds, ReadOnlySpan<float> negativeLogQ, bool shared = false)
    {
        int b = users.Rows;
        if (positives.Rows != b || positiveIds.Length != b) throw new ArgumentException($"{b} users but {positives.Rows} positives and {positiveIds.Length} positive ids");
        int n = negatives is null ? 0 : shared ? negatives.Rows : negatives.Rows / Math.Max(1, b);
        if (negatives is not null && negativeIds.Length != negatives.Rows) throw new ArgumentException($"{negatives.Rows} negatives but {negativeIds.Length} negative ids");
        if (negatives is not null && !shared && negatives.Rows != b * n) throw new ArgumentException($"{negatives.Rows} negatives do not divide among {b} rows");
        if (LogQCorrection && (positiveLogQ.Length != b || negativeLogQ.Length != (negatives?.Rows ?? 0)))
            throw new ArgumentException($"logQ correction needs {b} positive and {negatives?.Rows ?? 0} negative log-probabilities");

        var s = Ops.MatMul(users, positives, transposeB: true);
        if (negatives is not null) s = Ops.ConcatColumns(s, shared ? Ops.MatMul(users, negatives, transposeB: true) : Ops.GroupedDot(users, negatives));
        s = Ops.Scale(s, 1f / Temperature);

        var shift = ShiftBuffer(b, b + n);
        for (int r = 0; r < b; r++)
        {
            var row = shift.Row(r);
            int from = shared ? 0 : r * n;
            if (LogQCorrection)
            {
                TensorPrimitives.Negate(positiveLogQ, row[..b]);
                TensorPrimitives.Negate(negativeLogQ.Slice(from, n), row[b..]);
            }
            else row.Clear();
            if (!MaskAccidentalHits) continue;
            int id = positiveIds[r];
            MaskEqual(positiveIds, id, row[..b], except: r);
            MaskEqual(negativeIds.Slice(from, n), id, row[b..], except: -1);
        }
        return Ops.Add(s, shift);
    }

    private Tensor? _shift;

    /// <summary>The additive term of the logits, reused from step to step (the loss serves one training loop at a time).</summary>
    private Tensor ShiftBuffer(int rows, int cols)
    {
        if (_shift is null || _shift.Rows != rows || _shift.Cols != cols) _shift = new Tensor(rows, cols);
        return _shift;
    }

    /// <summary>Sets <paramref name="row"/>[j] to <see cref="MaskedLogit"/> wherever ids[j] == id, except at <paramref name="except"/>.</summary>
    internal static void MaskEqual(ReadOnlySpan<int> ids, int id, Span<float> row, int except)
    {
        for (int from = 0; ;)
        {
            int at = ids[from..].IndexOf(id);
            if (at < 0) return;
            from += at;
            if (from != except) row[from] = MaskedLogit;
            from++;
        }
    }

    /// <summary>Mean InfoNCE loss of the batch (targets: the diagonal).</summary>
    public Variable Forward(Variable users, Variable positives, ReadOnlySpan<int> positiveIds, ReadOnlySpan<float> positiveLogQ,
        Variable? negatives, ReadOnlySpan<int> negativeIds, ReadOnlySpan<float> negativeLogQ, bool shared = false)
    {
        var logits = Logits(users, positives, positiveIds, positiveLogQ, negatives, negativeIds, negativeLogQ, shared);
        var targets = new int[users.Rows];
        for (int r = 0; r < targets.Length; r++) targets[r] = r;
        return Ops.CrossEntropy(logits, targets);
    }
}
