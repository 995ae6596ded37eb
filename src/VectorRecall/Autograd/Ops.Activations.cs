using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using VectorRecall.Numerics;

namespace VectorRecall.Autograd;

internal static partial class Ops
{
    public static Variable Relu(Variable x)
    {
        var y = New(x.Shape, clear: false);
        ForChunks(y.Length, y.Length, (a, b) => TensorPrimitives.Max(x.Value.Span[a..b], 0f, y.Span[a..b]));
        var output = Output(y, x);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                // The output's gradient is not needed again: mask it in place and hand it down.
                var gy = output.Grad!;
                ForChunks(gy.Length, gy.Length, (a, b) => ZeroWhereNotPositive(gy.Span[a..b], x.Value.Span[a..b]));
                x.AccumulateGrad(gy);
            };
        return output;
    }

    /// <summary>g[i] = x[i] > 0 ? g[i] : 0.</summary>
    private static void ZeroWhereNotPositive(Span<float> g, ReadOnlySpan<float> x)
    {
        int i = 0;
        // Vector<float> is the widest the machine accelerates (256 bits on AVX2, which has no Vector512): the scalar loop's
        // branch on the sign of random activations mispredicts half the time (about 4× slower on [11264 × 256]).
        if (Vector.IsHardwareAccelerated)
            for (; i <= g.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                var xv = new Vector<float>(x.Slice(i, Vector<float>.Count));
                var gv = new Vector<float>(g.Slice(i, Vector<float>.Count));
                Vector.ConditionalSelect(Vector.GreaterThan(xv, Vector<float>.Zero), gv, Vector<float>.Zero).CopyTo(g.Slice(i));
            }
        for (; i < g.Length; i++) if (!(x[i] > 0)) g[i] = 0;
    }

    /// <summary>max(0, x) + α·min(0, x), with one α shared (length 1) or one per column.</summary>
    public static Variable PRelu(Variable x, Variable alpha)
    {
        int cols = x.Cols, len = alpha.Value.Length;
        if (len != 1 && len != cols) throw new ArgumentException($"prelu: alpha has {len} values; expected 1 or {cols}");
        var y = Like(x.Value);
        var xs = x.Value.Span; var ys = y.Span; var a = alpha.Value.Span;
        for (int i = 0; i < xs.Length; i++) ys[i] = xs[i] > 0 ? xs[i] : a[len == 1 ? 0 : i % cols] * xs[i];
        var output = Output(y, x, alpha);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                var gy = output.Grad!.Span; var xv = x.Value.Span; var av = alpha.Value.Span;
                Span<float> gx = x.RequiresGrad ? x.GradBuffer().Span : default;
                Span<float> ga = alpha.RequiresGrad ? alpha.GradBuffer().Span : default;
                for (int i = 0; i < xv.Length; i++)
                {
                    int j = len == 1 ? 0 : i % cols;
                    if (xv[i] > 0) { if (x.RequiresGrad) gx[i] += gy[i]; }
                    else
                    {
                        if (x.RequiresGrad) gx[i] += av[j] * gy[i];
                        if (alpha.RequiresGrad) ga[j] += xv[i] * gy[i];
                    }
                }
            };
        return output;
    }

    public static Variable Sigmoid(Variable x)
    {
        var y = Like(x.Value);
        TensorPrimitives.Sigmoid(x.Value.Span, y.Span);
        var output = Output(y, x);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                var gy = output.Grad!.Span; var ys = y.Span; var gx = x.GradBuffer().Span;
                for (int i = 0; i < gx.Length; i++) gx[i] += gy[i] * ys[i] * (1 - ys[i]);
            };
        return output;
    }

    public static Variable Tanh(Variable x)
    {
        var y = Like(x.Value);
        TensorPrimitives.Tanh(x.Value.Span, y.Span);
        var output = Output(y, x);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                var gy = output.Grad!.Span; var ys = y.Span; var gx = x.GradBuffer().Span;
                for (int i = 0; i < gx.Length; i++) gx[i] += gy[i] * (1 - ys[i] * ys[i]);
            };
        return output;
    }

    /// <summary>
    /// Inverted dropout: in training, zeroes each element with probability <paramref name="p"/> and
    /// scales the rest by 1/(1−p); outside training (or p = 0) it is the identity.
    /// </summary>
    public static Variable Dropout(Variable x, float p, bool training, Rng rng)
    {
        if (p < 0 || p >= 1) throw new ArgumentOutOfRangeException(nameof(p), $"dropout probability {p} is outside [0, 1)");
        if (!training || p == 0) return x;
        // The mask is never stored: backward regenerates it from the same per-block seeds.
        var mask = new DropoutMask(x.Value.Length, p, rng);
        var y = New(x.Shape, clear: false);
        mask.Apply(x.Value, y);
        var output = Output(y, x);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                var gy = output.Grad!;
                mask.Apply(gy, gy);
                x.AccumulateGrad(gy);
            };
        return output;
    }

    /// <summary>
    /// A dropout mask — element i is 0 with probability p, else 1/(1−p) — that is generated while it
    /// is applied, never stored. It is cut into fixed blocks, each with its own seed drawn from the
    /// caller's <see cref="Rng"/> in order, so it depends on the seed alone (not on the number of
    /// cores) and can be regenerated exactly; within a block, 8 xorshift streams in two Vector256
    /// give 16 draws per step (the same draws a Vector512 gave on AVX-512 machines, so masks agree
    /// between AVX2 and AVX-512; machines with neither draw one SplitMix per element).
    /// </summary>
    private sealed class DropoutMask
    {
        private const int Block = 1 << 16;
        private readonly ulong[] _seeds;
        private readonly uint _threshold;
        private readonly float _keep;

        public DropoutMask(int length, float p, Rng rng)
        {
            _seeds = new ulong[(length + Block - 1) / Block];
            for (int b = 0; b < _seeds.Length; b++) _seeds[b] = rng.NextUInt64() | 1;
            _threshold = (uint)Math.Min(uint.MaxValue, Math.Round(p * 4294967296.0));
            _keep = 1f / (1 - p);
        }

        /// <summary>dst = src ⊙ mask (dst may be src).</summary>
        public void Apply(Tensor src, Tensor dst) => Apply(src, dst, produce: null);

        /// <summary>
        /// dst ⊙= mask, each block just after <paramref name="produce"/>(start, count) has written it (a fused op's
        /// values, scaled while they are still in cache).
        /// </summary>
        public void ApplyAfter(Tensor dst, Action<int, int> produce) => Apply(dst, dst, produce);

        private void Apply(Tensor src, Tensor dst, Action<int, int>? produce)
        {
            int length = src.Length;
            ForChunks(_seeds.Length, length, (b0, b1) =>
            {
                Span<ulong> lanes = stackalloc ulong[Lanes];
                for (int b = b0; b < b1; b++)
                {
                    int start = b * Block, count = Math.Min(Block, length - start);
                    produce?.Invoke(start, count);
                    ApplyBlock(src.Span.Slice(start, count), dst.Span.Slice(start, count), _seeds[b], lanes);
                }
            });
        }

        private void ApplyBlock(ReadOnlySpan<float> src, Span<float> dst, ulong seed, Span<ulong> lanes)
        {
            ulong x = seed;
            int i = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                for (int l = 0; l < lanes.Length; l++) lanes[l] = SplitMix(ref x);
                // Lanes 0–3 draw elements i .. i+7 (each lane's low then high half), lanes 4–7 elements i+8 .. i+15.
                var low = Vector256.Create((ReadOnlySpan<ulong>)lanes[..4]);
                var high = Vector256.Create((ReadOnlySpan<ulong>)lanes[4..]);
                var threshold = Vector256.Create(_threshold);
                var keep = Vector256.Create(_keep);
                for (; i <= src.Length - 2 * Vector256<float>.Count; i += 2 * Vector256<float>.Count)
                {
                    low = XorShift(low);
                    high = XorShift(high);
                    var lowScale = Vector256.ConditionalSelect(Vector256.LessThan(low.AsUInt32(), threshold).AsSingle(), Vector256<float>.Zero, keep);
                    var highScale = Vector256.ConditionalSelect(Vector256.LessThan(high.AsUInt32(), threshold).AsSingle(), Vector256<float>.Zero, keep);
                    (Vector256.Create(src.Slice(i, Vector256<float>.Count)) * lowScale).CopyTo(dst.Slice(i));
                    (Vector256.Create(src.Slice(i + Vector256<float>.Count, Vector256<float>.Count)) * highScale).CopyTo(dst.Slice(i + Vector256<float>.Count));
                }
            }
            for (; i < src.Length; i++) dst[i] = (uint)(SplitMix(ref x) >> 32) < _threshold ? 0f : src[i] * _keep;
        }
    }

    private const int Lanes = 8;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> XorShift(Vector256<ulong> state)
    {
        state ^= Vector256.ShiftLeft(state, 13);
        state ^= Vector256.ShiftRightLogical(state, 7);
        return state ^ Vector256.ShiftLeft(state, 17);
    }

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>
    /// Each row divided by its L2 norm (at least <paramref name="eps"/>), as <c>F.normalize</c> (multiplied by the inverse, which
    /// may differ from a division in the last bit). Row kernels, not TensorPrimitives: a tower's 11,264 rows of 128 floats are short.
    /// </summary>
    public static Variable L2NormalizeRows(Variable x, float eps = 1e-12f)
    {
        int rows = x.Rows;
        var y = New(x.Shape, clear: false);
        var norms = new float[rows];
        ForChunks(rows, y.Length, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                var xr = x.Value.Row(r);
                norms[r] = MathF.Sqrt(Distances.Dot(xr, xr));
                RowKernels.Scale(xr, 1f / MathF.Max(norms[r], eps), y.Row(r));
            }
        });
        var output = Output(y, x);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                var gy = output.Grad!;
                ForChunks(rows, gy.Length, (r0, r1) =>
                {
                    for (int r = r0; r < r1; r++)
                    {
                        var yr = y.Row(r); var gyr = gy.Row(r);
                        // d(x/n) = (g − y·(y·g)) / n while the norm is above eps; below it the divisor is the constant eps.
                        float proj = norms[r] < eps ? 0f : Distances.Dot(yr, gyr);
                        RowKernels.AddScaled(yr, -proj, gyr);
                        RowKernels.Scale(gyr, 1f / MathF.Max(norms[r], eps), gyr);
                    }
                });
                x.AccumulateGrad(gy);
            };
        return output;
    }

    /// <summary>
    /// Batch normalisation over the rows of [batch × features]. In training it normalises with the
    /// batch's mean and (biased) variance and updates the running statistics in place
    /// (unbiased variance, as PyTorch does); in evaluation it uses the running statistics.
    /// </summary>
    public static Variable BatchNorm1d(Variable x, Variable gamma, Variable beta, Tensor runningMean, Tensor runningVar,
        bool training, float momentum = 0.1f, float eps = 1e-5f)
    {
        CheckMatrix(x, "batch norm");
        int n = x.Rows, d = x.Cols;
        if (gamma.Value.Length != d || beta.Value.Length != d || runningMean.Length != d || runningVar.Length != d)
            throw new ArgumentException($"batch norm: parameters must have {d} values (one per feature)");
        if (training && n < 2) throw new ArgumentException("batch norm: training needs at least 2 rows in a batch");

        var (mean, invStd) = NormalisationStatistics(x.Value, x.Moments, runningMean, runningVar, training, momentum, eps);
        var xhat = New([n, d], clear: false);
        var y = New([n, d], clear: false);
        ForChunks(n, y.Length, (r0, r1) =>
        {
            var g = gamma.Value.Span; var bt = beta.Value.Span;
            for (int r = r0; r < r1; r++)
            {
                var hr = xhat.Row(r);
                TensorPrimitives.Subtract(x.Value.Row(r), mean, hr);
                TensorPrimitives.Multiply(hr, invStd, hr);
                TensorPrimitives.MultiplyAdd(hr, g, bt, y.Row(r));
            }
        });
        var output = Output(y, x, gamma, beta);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                var gy = output.Grad!;
                var sums = NormalisationGradientSums(gy, xhat);
                var sumG = sums[..d];
                var sumGH = sums[d..];
                if (gamma.RequiresGrad) TensorPrimitives.Add(gamma.GradBuffer().Span, sumGH, gamma.GradBuffer().Span);
                if (beta.RequiresGrad) TensorPrimitives.Add(beta.GradBuffer().Span, sumG, beta.GradBuffer().Span);
                if (!x.RequiresGrad) return;
                // Training: dx = γ/σ · (g − mean(g) − x̂·mean(g·x̂)), the batch statistics depending on x too;
                // evaluation: dx = γ/σ · g. Computed in place in the output's gradient, then handed down.
                var scale = new float[d];
                TensorPrimitives.Multiply(gamma.Value.Span, invStd, scale);
                TensorPrimitives.Multiply(sumG, -1f / n, sumG);
                TensorPrimitives.Multiply(sumGH, -1f / n, sumGH);
                ForChunks(n, gy.Length, (r0, r1) =>
                {
                    for (int r = r0; r < r1; r++)
                    {
                        var gr = gy.Row(r);
                        if (training)
                        {
                            TensorPrimitives.Add(gr, sumG, gr);
                            TensorPrimitives.MultiplyAdd(xhat.Row(r), sumGH, gr, gr);
                        }
                        TensorPrimitives.Multiply(gr, scale, gr);
                    }
                });
                x.AccumulateGrad(gy);
            };
        return output;
    }

    /// <summary>
    /// The mean and 1/σ batch norm normalises with: in training the batch's (biased variance), updating
    /// the running statistics in place (unbiased variance, as PyTorch does); in evaluation the running ones.
    /// </summary>
    private static (float[] Mean, float[] InvStd) NormalisationStatistics(Tensor x, ColumnMoments? known, Tensor runningMean, Tensor runningVar, bool training, float momentum, float eps)
    {
        int n = x.Rows, d = x.Cols;
        var mean = new float[d];
        var invStd = new float[d];
        if (training)
        {
            // Both moments about the first row, so that a large mean cannot swamp the variance: from the op that made x
            // when it took them (a Linear's GEMM), else in one pass.
            float[] shift, moments;
            if (known is not null && known.Rows == n && known.Shift.Length == d) (shift, moments) = (known.Shift, known.Sums);
            else
            {
                shift = x.Row(0).ToArray();
                moments = new float[2 * d];
                SumRows(n, 2 * d, moments, (r, acc) => RowKernels.AddShiftedMoments(x.Row(r), d, 1, shift, acc.AsSpan(0, d), acc.AsSpan(d)));
            }
            var sumSq = new float[d];
            for (int j = 0; j < d; j++)
            {
                float m1 = moments[j] / n;
                mean[j] = shift[j] + m1;
                sumSq[j] = MathF.Max(0f, moments[d + j] - n * m1 * m1);  // Σ(x − mean)²
            }
            for (int j = 0; j < d; j++)
            {
                invStd[j] = 1f / MathF.Sqrt(sumSq[j] / n + eps);
                runningMean[j] = (1 - momentum) * runningMean[j] + momentum * mean[j];
                runningVar[j] = (1 - momentum) * runningVar[j] + momentum * sumSq[j] / (n - 1);
            }
        }
        else
        {
            for (int j = 0; j < d; j++) { mean[j] = runningMean[j]; invStd[j] = 1f / MathF.Sqrt(runningVar[j] + eps); }
        }
        return (mean, invStd);
    }
}
