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
    public const float MaskedLogit = Ops.MaskedLogit;

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
        var (shift, masked) = Terms(b, n, candidateIds, positiveLogQ, negativeLogQ, shared);
        return Ops.InfoNceLogits(users, candidates, shared, 1f / Temperature, shift, masked);
    }

    /// <summary>Mean InfoNCE loss of the batch (targets: the diagonal); arguments as for <see cref="Logits"/>.</summary>
    public Variable Forward(Variable users, Variable candidates, ReadOnlySpan<int> candidateIds, ReadOnlySpan<float> positiveLogQ, ReadOnlySpan<float> negativeLogQ, bool shared = false)
    {
        var (b, n) = Ops.InfoNceShape(users, candidates, shared);
        var (shift, masked) = Terms(b, n, candidateIds, positiveLogQ, negativeLogQ, shared);
        return Ops.InfoNce(users, candidates, shared, 1f / Temperature, shift, masked);
    }

    /// <summary>
    /// What is added to the scaled scores: −log q per candidate row (empty without the correction), and the accidental
    /// hits, as ascending flat indices r·(B + n) + c into the logits.
    /// </summary>
    private (float[] Shift, int[] Masked) Terms(int b, int n, ReadOnlySpan<int> candidateIds, ReadOnlySpan<float> positiveLogQ, ReadOnlySpan<float> negativeLogQ, bool shared)
    {
        int rows = b + (shared ? n : b * n);
        if (candidateIds.Length != rows) throw new ArgumentException($"{rows} candidates but {candidateIds.Length} candidate ids");
        if (LogQCorrection && (positiveLogQ.Length != b || negativeLogQ.Length != rows - b))
            throw new ArgumentException($"logQ correction needs {b} positive and {rows - b} negative log-probabilities, got {positiveLogQ.Length} and {negativeLogQ.Length}");
        var shift = LogQCorrection ? new float[rows] : [];
        if (LogQCorrection)
        {
            TensorPrimitives.Negate(positiveLogQ, shift.AsSpan(0, b));
            TensorPrimitives.Negate(negativeLogQ, shift.AsSpan(b));
        }
        if (!MaskAccidentalHits) return (shift, []);
        var positiveIds = candidateIds[..b];
        var masked = new List<int>();
        for (int r = 0, width = b + n; r < b; r++)
        {
            int id = positiveIds[r];
            for (int at = NextEqual(positiveIds, id, 0, except: r); at >= 0; at = NextEqual(positiveIds, id, at + 1, except: r)) masked.Add(r * width + at);
            var negatives = candidateIds.Slice(b + (shared ? 0 : r * n), n);
            for (int at = NextEqual(negatives, id, 0, except: -1); at >= 0; at = NextEqual(negatives, id, at + 1, except: -1)) masked.Add(r * width + b + at);
        }
        return (shift, [.. masked]);
    }

    /// <summary>Sets <paramref name="row"/>[j] to <see cref="MaskedLogit"/> wherever ids[j] == id, except at <paramref name="except"/>.</summary>
    internal static void MaskEqual(ReadOnlySpan<int> ids, int id, Span<float> row, int except)
    {
        for (int at = NextEqual(ids, id, 0, except); at >= 0; at = NextEqual(ids, id, at + 1, except)) row[at] = MaskedLogit;
    }

    /// <summary>The first position from <paramref name="from"/> on where ids holds id, other than <paramref name="except"/>; −1 when none.</summary>
    private static int NextEqual(ReadOnlySpan<int> ids, int id, int from, int except)
    {
        while (from < ids.Length)
        {
            int at = ids[from..].IndexOf(id);
            if (at < 0) return -1;
            if (from + at != except) return from + at;
            from += at + 1;
        }
        return -1;
    }
}
