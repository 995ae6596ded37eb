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
    /// The corrected logits [B × (B + n)] as a plain tensor (what <see cref="Forward"/> takes the softmax of): users
    /// [B × d]; candidates [B + B·n × d] or, with <paramref name="shared"/>, [B + n × d]: the B positives, then row b's
    /// negatives at rows B + b·n .. (or n negatives for every row), with their item ids and, under the logQ correction,
    /// log q of each positive and of each negative.
    /// </summary>
    public Tensor Logits(Variable users, Variable candidates, ReadOnlySpan<int> candidateIds, ReadOnlySpan<float> positiveLogQ, ReadOnlySpan<float> negativeLogQ, bool shared = false)
    {
        var (b, n) = Ops.InfoNceShape(users, candidates, shared);
        var logits = new Tensor(b, b + n);
        Ops.CandidateScores(users.Value, candidates.Value, b, n, shared, logits);
        TensorPrimitives.MultiplyAdd(logits.Span, 1f / Temperature, Shift(b, n, candidateIds, positiveLogQ, negativeLogQ, shared).Span, logits.Span);
        return logits;
    }

    /// <summary>Mean InfoNCE loss of the batch (targets: the diagonal); arguments as for <see cref="Logits"/>.</summary>
    public Variable Forward(Variable users, Variable candidates, ReadOnlySpan<int> candidateIds, ReadOnlySpan<float> positiveLogQ, ReadOnlySpan<float> negativeLogQ, bool shared = false)
    {
        var (b, n) = Ops.InfoNceShape(users, candidates, shared);
        return Ops.InfoNce(users, candidates, shared, 1f / Temperature, Shift(b, n, candidateIds, positiveLogQ, negativeLogQ, shared));
    }

    /// <summary>The additive term of the logits: −log q of each candidate, and <see cref="MaskedLogit"/> at accidental hits.</summary>
    private Tensor Shift(int b, int n, ReadOnlySpan<int> candidateIds, ReadOnlySpan<float> positiveLogQ, ReadOnlySpan<float> negativeLogQ, bool shared)
    {
        int rows = b + (shared ? n : b * n);
        if (candidateIds.Length != rows) throw new ArgumentException($"{rows} candidates but {candidateIds.Length} candidate ids");
        if (LogQCorrection && (positiveLogQ.Length != b || negativeLogQ.Length != rows - b))
            throw new ArgumentException($"logQ correction needs {b} positive and {rows - b} negative log-probabilities, got {positiveLogQ.Length} and {negativeLogQ.Length}");
        var positiveIds = candidateIds[..b];
        var shift = ShiftBuffer(b, b + n);
        for (int r = 0; r < b; r++)
        {
            var row = shift.Row(r);
            int from = b + (shared ? 0 : r * n);
            if (LogQCorrection)
            {
                TensorPrimitives.Negate(positiveLogQ, row[..b]);
                TensorPrimitives.Negate(negativeLogQ.Slice(from - b, n), row[b..]);
            }
            else row.Clear();
            if (!MaskAccidentalHits) continue;
            int id = positiveIds[r];
            MaskEqual(positiveIds, id, row[..b], except: r);
            MaskEqual(candidateIds.Slice(from, n), id, row[b..], except: -1);
        }
        return shift;
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
}
