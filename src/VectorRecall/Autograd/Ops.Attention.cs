using VectorRecall.Numerics;

namespace VectorRecall.Autograd;

internal static partial class Ops
{
    /// <summary>
    /// Layer normalisation over each row of [rows × features]: (x − mean) / √(var + ε) · γ + β, with the
    /// biased variance of the row (PyTorch's <c>LayerNorm</c> over the last dimension).
    /// </summary>
    public static Variable LayerNorm(Variable x, Variable gamma, Variable beta, float eps = 1e-5f)
    {
        CheckMatrix(x, "layer norm");
        int n = x.Rows, d = x.Cols;
        if (gamma.Value.Length != d || beta.Value.Length != d) throw new ArgumentException($"layer norm: γ and β must have {d} values (one per feature)");
        var xhat = New([n, d], clear: false);
        var invStd = new float[n];
        var y = New([n, d], clear: false);
        ForChunks(n, (long)n * d, (r0, r1) =>
        {
            var g = gamma.Value.Span; var b = beta.Value.Span;
            for (int r = r0; r < r1; r++)
            {
                invStd[r] = TransformerKernels.LayerNorm(x.Value.Row(r), g, b, eps, xhat.Row(r), y.Row(r));
            }
        });
        var output = Output(y, x, gamma, beta);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                var gy = output.Grad!;
                if (gamma.RequiresGrad || beta.RequiresGrad)
                {
                    var sums = NormalisationGradientSums(gy, xhat);
                    if (beta.RequiresGrad) TensorPrimitives.Add(beta.GradBuffer().Span, sums.AsSpan(0, d), beta.GradBuffer().Span);
                    if (gamma.RequiresGrad) TensorPrimitives.Add(gamma.GradBuffer().Span, sums.AsSpan(d), gamma.GradBuffer().Span);
                }
                if (!x.RequiresGrad) return;
                // dx = 1/σ · (ĝ − mean(ĝ) − x̂ · mean(ĝ·x̂)) with ĝ = g·γ, per row; computed in the output's gradient.
                var gx = x.GradBuffer();
                ForChunks(n, (long)n * d, (r0, r1) =>
                {
                    var scratch = new float[d];
                    for (int r = r0; r < r1; r++)
                    {
                        TensorPrimitives.Multiply(gy.Row(r), gamma.Value.Span, scratch);
                        float meanG = TensorPrimitives.Sum(scratch) / d;
                        float meanGH = TensorPrimitives.Dot(scratch, xhat.Row(r)) / d;
                        TensorPrimitives.Subtract(scratch, meanG, scratch);
                        TensorPrimitives.MultiplyAdd(xhat.Row(r), -meanGH, scratch, scratch);
                        TensorPrimitives.MultiplyAdd(scratch, invStd[r], gx.Row(r), gx.Row(r));
                    }
                });
            };
        return output;
    }

    /// <summary>[Σ_r g | Σ_r g·x̂] over the rows in one pass: the shift's and the scale's gradients of batch and layer norm.</summary>
    private static float[] NormalisationGradientSums(Tensor gy, Tensor xhat)
    {
        int n = gy.Rows, d = gy.Cols;
        var sums = new float[2 * d];
        SumRows(n, 2 * d, sums, (r, acc) =>
        {
            TensorPrimitives.Add(acc.AsSpan(0, d), gy.Row(r), acc.AsSpan(0, d));
            TensorPrimitives.MultiplyAdd(gy.Row(r), xhat.Row(r), acc.AsSpan(d), acc.AsSpan(d));
        });
        return sums;
    }

    /// <summary>GELU, tanh form (<see cref="TransformerKernels.Gelu"/>).</summary>
    public static Variable Gelu(Variable x)
    {
        var y = Like(x.Value);
        TransformerKernels.Gelu(x.Value.Span, y.Span);
        var output = Output(y, x);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                TransformerKernels.AddGeluGradient(x.Value.Span, output.Grad!.Span, x.GradBuffer().Span);
            };
        return output;
    }

    /// <summary>
    /// Multi-head scaled dot-product attention over <paramref name="batch"/> padded sequences of <paramref name="length"/>
    /// positions (sequence b's position t on row b·length + t), its first <c>leftPadding[b]</c> positions never attended to.
    /// </summary>
    public static Variable Attention(Variable q, Variable k, Variable v, int batch, int length, int heads, bool causal, int[]? leftPadding = null)
    {
        if (leftPadding is not null && (leftPadding.Length != batch || leftPadding.Any(p => p < 0 || p > length)))
            throw new ArgumentException($"attention: left padding needs one count in [0, {length}] per sequence");
        return Attention(q, k, v, new SequenceShape(batch, length, leftPadding), heads, causal);
    }

    /// <summary>
    /// Multi-head scaled dot-product attention over the sequences of <paramref name="shape"/> (padded or packed).
    /// <paramref name="q"/>, <paramref name="k"/>, <paramref name="v"/> are [rows × heads·dh], head h in columns
    /// [h·dh, (h+1)·dh). Position t of a sequence attends to its positions s ≤ t when <paramref name="causal"/> (all of
    /// them otherwise), never to padding. Softmax over keys is taken after subtracting the row's maximum; a row
    /// with every key masked (a padding row under the causal mask) outputs zeros.
    /// </summary>
    public static Variable Attention(Variable q, Variable k, Variable v, SequenceShape shape, int heads, bool causal)
    {
        int rows = shape.Rows, width = q.Cols;
        if (q.Rows != rows || k.Rows != rows || v.Rows != rows || k.Cols != width || v.Cols != width)
            throw new ArgumentException($"attention: q, k and v must all be [{rows} x {width}] ({shape.Batch} sequences, {rows} rows), got {q.Value}, {k.Value}, {v.Value}");
        if (heads < 1 || width % heads != 0) throw new ArgumentException($"attention: {width} columns do not split into {heads} heads");
        int dh = width / heads;
        float scale = 1f / MathF.Sqrt(dh);
        // Attention weights per (sequence, head): a count × count block each, kept for the backward pass.
        var blocks = WeightBlocks(shape, heads);
        var weights = New([blocks[^1]], clear: true);
        var y = New([rows, width], clear: true);
        long work = (long)blocks[^1] * dh;
        ForChunks(shape.Batch * heads, work, (p0, p1) =>
        {
            for (int p = p0; p < p1; p++)
            {
                int b = p / heads, h = p % heads, start = shape.Start(b), count = shape.Count(b), pad = shape.Padding(b);
                int block = blocks[b] + h * count * count;
                for (int t = causal || pad == count ? pad : 0; t < count; t++)
                {
                    int last = causal ? t : count - 1;
                    int first = (start + pad) * width + h * dh;
                    TransformerKernels.Attend(q.Value.Row(start + t).Slice(h * dh, dh), k.Value.Span[first..], v.Value.Span[first..], width, last - pad + 1, scale,
                        weights.Span.Slice(block + t * count + pad, last - pad + 1), y.Row(start + t).Slice(h * dh, dh));
                }
            }
        });
        var output = OutputOfMany(y, [q, k, v]);
        if (output.RequiresGrad)
            output.BackwardFn = () => AttentionBackward(output.Grad!, q, k, v, weights, blocks, shape, heads, causal, scale);
        return output;
    }

    /// <summary>Where each sequence's weight blocks start (heads blocks of count² each); the last entry is the total.</summary>
    private static int[] WeightBlocks(SequenceShape shape, int heads)
    {
        var starts = new int[shape.Batch + 1];
        for (int b = 0; b < shape.Batch; b++) starts[b + 1] = checked(starts[b] + heads * shape.Count(b) * shape.Count(b));
        return starts;
    }

    /// <summary>
    /// dV = Pᵀ·dO; dP = dO·Vᵀ; dS = P ⊙ (dP − rowsum(dP ⊙ P)); dQ = dS·K·scale; dK = dSᵀ·Q·scale — per
    /// sequence and head, which own disjoint rows of each gradient, so they run side by side.
    /// </summary>
    private static void AttentionBackward(Tensor gy, Variable q, Variable k, Variable v, Tensor weights, int[] blocks, SequenceShape shape, int heads, bool causal, float scale)
    {
        int dh = q.Cols / heads;
        var gq = q.RequiresGrad ? q.GradBuffer() : null;
        var gk = k.RequiresGrad ? k.GradBuffer() : null;
        var gv = v.RequiresGrad ? v.GradBuffer() : null;
        ForChunks(shape.Batch * heads, (long)blocks[^1] * dh, (p0, p1) =>
        {
            var ds = new float[shape.Length];
            for (int p = p0; p < p1; p++)
            {
                int b = p / heads, h = p % heads, start = shape.Start(b), count = shape.Count(b), pad = shape.Padding(b);
                int block = blocks[b] + h * count * count;
                for (int t = causal || pad == count ? pad : 0; t < count; t++)
                {
                    int last = causal ? t : count - 1;
                    var w = weights.Span.Slice(block + t * count, count);
                    var gt = gy.Row(start + t).Slice(h * dh, dh);
                    float dot = 0;
                    for (int s = pad; s <= last; s++)
                    {
                        ds[s] = TensorPrimitives.Dot(gt, v.Value.Row(start + s).Slice(h * dh, dh));
                        dot += ds[s] * w[s];
                        if (gv is not null) TensorPrimitives.MultiplyAdd(gt, w[s], gv.Row(start + s).Slice(h * dh, dh), gv.Row(start + s).Slice(h * dh, dh));
                    }
                    var qt = q.Value.Row(start + t).Slice(h * dh, dh);
                    for (int s = pad; s <= last; s++)
                    {
                        float g = w[s] * (ds[s] - dot) * scale;
                        if (g == 0f) continue;
                        if (gq is not null) TensorPrimitives.MultiplyAdd(k.Value.Row(start + s).Slice(h * dh, dh), g, gq.Row(start + t).Slice(h * dh, dh), gq.Row(start + t).Slice(h * dh, dh));
                        if (gk is not null) TensorPrimitives.MultiplyAdd(qt, g, gk.Row(start + s).Slice(h * dh, dh), gk.Row(start + s).Slice(h * dh, dh));
                    }
                }
            }
        });
    }
}
