using System.Numerics;
using VectorRecall.Numerics;

namespace VectorRecall.Autograd;

internal static partial class Ops
{
    /// <summary>
    /// Dropout(ReLU(BatchNorm1d(x))) as one op: the values, gradients, running statistics and dropout draws of
    /// <see cref="BatchNorm1d"/>, <see cref="Relu"/> and <see cref="Dropout"/> applied in turn (the same
    /// <paramref name="rng"/> draws; it may be null without dropout), in two passes over the activations each way instead of seven forward and
    /// six backward. Nothing but the output is kept: backward recovers both masks from it (an element passed ReLU
    /// and dropout exactly where the output is positive) and the normalised input from <paramref name="x"/>.
    /// <paramref name="dropout"/> 0 (or evaluation) is BatchNorm → ReLU.
    /// </summary>
    public static Variable BatchNormRelu(Variable x, Variable gamma, Variable beta, Tensor runningMean, Tensor runningVar,
        bool training, float dropout, Rng? rng, float momentum = 0.1f, float eps = 1e-5f)
    {
        CheckMatrix(x, "batch norm");
        int n = x.Rows, d = x.Cols;
        if (gamma.Value.Length != d || beta.Value.Length != d || runningMean.Length != d || runningVar.Length != d)
            throw new ArgumentException($"batch norm: parameters must have {d} values (one per feature)");
        if (training && n < 2) throw new ArgumentException("batch norm: training needs at least 2 rows in a batch");
        if (dropout < 0 || dropout >= 1) throw new ArgumentOutOfRangeException(nameof(dropout), $"dropout probability {dropout} is outside [0, 1)");

        var (mean, invStd) = NormalisationStatistics(x.Value, x.Moments, runningMean, runningVar, training, momentum, eps);
        var scale = new float[d];
        TensorPrimitives.Multiply(gamma.Value.Span, invStd, scale);
        var y = New([n, d], clear: false);
        // y = max((x − μ)·γ/σ + β, 0), written by rows; the dropout mask then scales each block while it is still in cache.
        void Normalise(int start, int count)
        {
            for (int i = start, end = start + count; i < end;)
            {
                int r = i / d, c = i - r * d, len = Math.Min(d - c, end - i);
                AffineRelu(x.Value.Span.Slice(i, len), mean.AsSpan(c, len), scale.AsSpan(c, len), beta.Value.Span.Slice(c, len), y.Span.Slice(i, len));
                i += len;
            }
        }
        bool drop = training && dropout > 0;
        var mask = drop ? new DropoutMask(y.Length, dropout, rng ?? throw new ArgumentNullException(nameof(rng), "dropout needs a generator")) : null;
        if (mask is not null) mask.ApplyAfter(y, Normalise);
        else ForChunks(n, y.Length, (r0, r1) => Normalise(r0 * d, (r1 - r0) * d));

        var output = Output(y, x, gamma, beta);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                var gy = output.Grad!;
                float keep = drop ? 1f / (1 - dropout) : 1f;
                // Pass 1: g ← ∂L/∂(normalised·γ + β) in place, and per column Σg and Σg·(x − μ).
                var sums = new float[2 * d];
                SumRows(n, 2 * d, sums, (r, acc) => MaskedGradientSums(gy.Row(r), y.Row(r), x.Value.Row(r), mean, keep, acc.AsSpan(0, d), acc.AsSpan(d)));
                var sumG = sums.AsSpan(0, d);
                var sumGX = sums.AsSpan(d);
                // Σ g·x̂ = Σ g·(x − μ)/σ.
                if (gamma.RequiresGrad)
                {
                    var gg = gamma.GradBuffer().Span;
                    for (int j = 0; j < d; j++) gg[j] += sumGX[j] * invStd[j];
                }
                if (beta.RequiresGrad) TensorPrimitives.Add(beta.GradBuffer().Span, sumG, beta.GradBuffer().Span);
                if (!x.RequiresGrad) return;
                // Pass 2, training: dx = γ/σ·(g − Σg/n − x̂·Σg·x̂/n) = s·g + u·(x − μ) + b with s = γ/σ,
                // u = −s·Σg·(x − μ)/(n·σ²), b = −s·Σg/n. Evaluation: dx = s·g.
                var u = new float[d];
                var b = new float[d];
                if (training)
                    for (int j = 0; j < d; j++)
                    {
                        u[j] = -scale[j] * sumGX[j] * invStd[j] * invStd[j] / n;
                        b[j] = -scale[j] * sumG[j] / n;
                    }
                ForChunks(n, gy.Length, (r0, r1) =>
                {
                    for (int r = r0; r < r1; r++) InputGradient(gy.Row(r), x.Value.Row(r), mean, scale, u, b);
                });
                x.AccumulateGrad(gy);
            };
        return output;
    }

    /// <summary>y = max((x − μ)·s + β, 0).</summary>
    private static void AffineRelu(ReadOnlySpan<float> x, ReadOnlySpan<float> mean, ReadOnlySpan<float> scale, ReadOnlySpan<float> beta, Span<float> y)
    {
        int i = 0, w = Vector<float>.Count;
        if (Vector.IsHardwareAccelerated)
            for (; i <= x.Length - w; i += w)
            {
                var v = (new Vector<float>(x[i..]) - new Vector<float>(mean[i..])) * new Vector<float>(scale[i..]) + new Vector<float>(beta[i..]);
                Vector.Max(v, Vector<float>.Zero).CopyTo(y[i..]);
            }
        for (; i < x.Length; i++) y[i] = MathF.Max((x[i] - mean[i]) * scale[i] + beta[i], 0f);
    }

    /// <summary>
    /// One row of the backward pass's first sweep, in one loop: g ← (y > 0 ? g·keep : 0) (the gradient through dropout and
    /// ReLU), then Σg += g and Σg(x − μ) += g·(x − μ) (four passes over the row, and a scratch row, before).
    /// </summary>
    private static void MaskedGradientSums(Span<float> g, ReadOnlySpan<float> y, ReadOnlySpan<float> x, ReadOnlySpan<float> mean, float keep,
        Span<float> sumG, Span<float> sumGX)
    {
        int i = 0, w = Vector<float>.Count;
        if (Vector.IsHardwareAccelerated)
        {
            var k = new Vector<float>(keep);
            for (; i <= g.Length - w; i += w)
            {
                var gi = Vector.ConditionalSelect(Vector.GreaterThan(new Vector<float>(y[i..]), Vector<float>.Zero), new Vector<float>(g[i..]) * k, Vector<float>.Zero);
                gi.CopyTo(g[i..]);
                (new Vector<float>(sumG[i..]) + gi).CopyTo(sumG[i..]);
                (new Vector<float>(sumGX[i..]) + gi * (new Vector<float>(x[i..]) - new Vector<float>(mean[i..]))).CopyTo(sumGX[i..]);
            }
        }
        for (; i < g.Length; i++)
        {
            float gi = g[i] = y[i] > 0 ? g[i] * keep : 0f;
            sumG[i] += gi;
            sumGX[i] += gi * (x[i] - mean[i]);
        }
    }

    /// <summary>g = s·g + u·(x − μ) + b, in place.</summary>
    private static void InputGradient(Span<float> g, ReadOnlySpan<float> x, ReadOnlySpan<float> mean, ReadOnlySpan<float> s, ReadOnlySpan<float> u, ReadOnlySpan<float> b)
    {
        int i = 0, w = Vector<float>.Count;
        if (Vector.IsHardwareAccelerated)
            for (; i <= g.Length - w; i += w)
                (new Vector<float>(s[i..]) * new Vector<float>(g[i..]) + new Vector<float>(u[i..]) * (new Vector<float>(x[i..]) - new Vector<float>(mean[i..])) + new Vector<float>(b[i..])).CopyTo(g[i..]);
        for (; i < g.Length; i++) g[i] = s[i] * g[i] + u[i] * (x[i] - mean[i]) + b[i];
    }
}
