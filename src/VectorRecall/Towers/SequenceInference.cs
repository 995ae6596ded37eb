using VectorRecall.Nn;
using VectorRecall.Numerics;

namespace VectorRecall.Towers;

/// <summary>
/// The forward pass of a <see cref="SequenceEncoder"/> for serving: one history at a time, no tape, no
/// closures, every intermediate in a per-thread workspace sized once for <see cref="SequenceEncoderConfig.MaxLength"/>
/// positions, so a warm call allocates nothing. Only the latest position is the user's vector, so the last
/// block computes its query, attention and feed-forward for that position alone (keys and values still
/// for all). The arithmetic is the autograd ops' (<see cref="TransformerKernels"/>, <see cref="Gemm"/>).
/// </summary>
internal sealed class SequenceInference
{
    private readonly SequenceEncoder _encoder;
    private readonly Tensor _itemVectors;
    private readonly ThreadLocal<Workspace> _workspaces;

    /// <summary>A forward-only <paramref name="encoder"/> that reads item i's input vector from row i of <paramref name="itemVectors"/>.</summary>
    public SequenceInference(SequenceEncoder encoder, Tensor itemVectors)
    {
        _encoder = encoder;
        _itemVectors = itemVectors;
        int feedForward = encoder.Blocks.Select(b => b.FeedForwardIn.Weight.Rows).DefaultIfEmpty(0).Max();
        _workspaces = new(() => new Workspace(encoder.Config, feedForward));
    }

    private sealed class Workspace(SequenceEncoderConfig c, int feedForward)
    {
        public readonly float[] X = new float[c.MaxLength * c.Dim];
        public readonly float[] Normed = new float[c.MaxLength * c.Dim];
        public readonly float[] Q = new float[c.MaxLength * c.Dim];
        public readonly float[] K = new float[c.MaxLength * c.Dim];
        public readonly float[] V = new float[c.MaxLength * c.Dim];
        public readonly float[] Attended = new float[c.MaxLength * c.Dim];
        public readonly float[] Branch = new float[c.MaxLength * c.Dim];
        public readonly float[] Hidden = new float[c.MaxLength * feedForward];
        public readonly float[] Weights = new float[c.MaxLength];
    }

    /// <summary>
    /// Writes the encoder's output after the latest of <paramref name="history"/>'s items (item ids, oldest first;
    /// only the latest <see cref="SequenceEncoderConfig.MaxLength"/> are read) into <paramref name="destination"/>.
    /// The caller has checked that the history is non-empty and its ids are in range.
    /// </summary>
    public void EncodeLatest(ReadOnlySpan<int> history, Span<float> destination) => Encode(history, 1, destination);

    /// <summary>
    /// Writes the encoder's output at every position of <paramref name="history"/> (at most <see cref="SequenceEncoderConfig.MaxLength"/>
    /// items, oldest first) into <paramref name="destination"/>, a row per item: what training scores at each position, the
    /// window right-aligned as there.
    /// </summary>
    public void EncodeEach(ReadOnlySpan<int> history, Span<float> destination)
    {
        if (history.Length > _encoder.Config.MaxLength) throw new ArgumentException($"a window of {history.Length} items is longer than the encoder's {_encoder.Config.MaxLength} positions");
        Encode(history, history.Length, destination);
    }

    /// <summary>The outputs at the latest <paramref name="outputs"/> positions of the history's window.</summary>
    private void Encode(ReadOnlySpan<int> history, int outputs, Span<float> destination)
    {
        var c = _encoder.Config;
        int d = c.Dim, n = Math.Min(history.Length, c.MaxLength), from = n - outputs;
        history = history[^n..];
        var w = _workspaces.Value!;
        var positions = _encoder.Positions.Weight.Value;
        float sqrtD = MathF.Sqrt(d);
        // Right-aligned positions, as in training: the latest item sits at the last place.
        for (int t = 0; t < n; t++) TensorPrimitives.MultiplyAdd(_itemVectors.Row(history[t]), sqrtD, positions.Row(c.MaxLength - n + t), w.X.AsSpan(t * d, d));
        for (int b = 0; b < _encoder.Blocks.Count; b++)
            Block(_encoder.Blocks[b], w, n, d, from: b == _encoder.Blocks.Count - 1 ? from : 0);
        var norm = _encoder.FinalNorm;
        for (int t = from; t < n; t++)
            TransformerKernels.LayerNorm(w.X.AsSpan(t * d, d), norm.Weight.Value.Span, norm.Bias.Value.Span, norm.Eps, w.Branch.AsSpan(0, d), destination.Slice((t - from) * d, d));
    }

    /// <summary>One block over positions [0, n), its outputs needed for positions [from, n) only.</summary>
    private static void Block(TransformerBlock block, Workspace w, int n, int d, int from)
    {
        int rows = n - from, off = from * d;
        var x = w.X.AsSpan(0, n * d);
        if (block.PreNorm)
        {
            Normalise(block.AttentionNorm, x, w.Normed, n, d);
            SelfAttention(block.Attention, w, w.Normed, n, d, from);
            TensorPrimitives.Add(w.X.AsSpan(off, rows * d), w.Branch.AsSpan(off, rows * d), w.X.AsSpan(off, rows * d));
            Normalise(block.FeedForwardNorm, w.X.AsSpan(off, rows * d), w.Normed.AsSpan(off), rows, d);
            FeedForward(block, w.Normed.AsSpan(off, rows * d), w.Hidden, w.Branch.AsSpan(off), rows);
            TensorPrimitives.Add(w.X.AsSpan(off, rows * d), w.Branch.AsSpan(off, rows * d), w.X.AsSpan(off, rows * d));
            return;
        }
        SelfAttention(block.Attention, w, w.X, n, d, from);
        TensorPrimitives.Add(w.X.AsSpan(off, rows * d), w.Branch.AsSpan(off, rows * d), w.Normed.AsSpan(off, rows * d));
        Normalise(block.AttentionNorm, w.Normed.AsSpan(off, rows * d), w.X.AsSpan(off), rows, d);
        FeedForward(block, w.X.AsSpan(off, rows * d), w.Hidden, w.Branch.AsSpan(off), rows);
        TensorPrimitives.Add(w.X.AsSpan(off, rows * d), w.Branch.AsSpan(off, rows * d), w.Normed.AsSpan(off, rows * d));
        Normalise(block.FeedForwardNorm, w.Normed.AsSpan(off, rows * d), w.X.AsSpan(off), rows, d);
    }

    /// <summary>Causal self-attention of positions [from, n) over <paramref name="input"/>'s rows [0, n); the projected output goes to <c>Branch</c>.</summary>
    private static void SelfAttention(MultiHeadAttention attention, Workspace w, ReadOnlySpan<float> input, int n, int d, int from)
    {
        int rows = n - from, off = from * d, heads = attention.Heads, dh = d / heads;
        float scale = 1f / MathF.Sqrt(dh);
        attention.Query.Apply(input[off..], rows, w.Q.AsSpan(off));
        attention.Key.Apply(input, n, w.K);
        attention.Value.Apply(input, n, w.V);
        for (int t = from; t < n; t++)
            for (int h = 0; h < heads; h++)
                TransformerKernels.Attend(w.Q.AsSpan(t * d + h * dh, dh), w.K.AsSpan(h * dh), w.V.AsSpan(h * dh), d, t + 1, scale, w.Weights, w.Attended.AsSpan(t * d + h * dh, dh));
        attention.Out.Apply(w.Attended.AsSpan(off), rows, w.Branch.AsSpan(off));
    }

    /// <summary>The block's Linear → GELU → Linear on <paramref name="rows"/> rows (dropout is off when serving).</summary>
    private static void FeedForward(TransformerBlock block, ReadOnlySpan<float> input, Span<float> hidden, Span<float> output, int rows)
    {
        var first = block.FeedForwardIn;
        int width = first.Weight.Value.Rows;
        first.Apply(input, rows, hidden);
        TransformerKernels.Gelu(hidden[..(rows * width)], hidden);
        block.FeedForwardOut.Apply(hidden, rows, output);
    }

    private static void Normalise(LayerNorm norm, ReadOnlySpan<float> input, Span<float> output, int rows, int d)
    {
        var gamma = norm.Weight.Value.Span;
        var beta = norm.Bias.Value.Span;
        for (int r = 0; r < rows; r++)
        {
            var y = output.Slice(r * d, d);
            TransformerKernels.LayerNorm(input.Slice(r * d, d), gamma, beta, norm.Eps, y, y);
        }
    }
}
