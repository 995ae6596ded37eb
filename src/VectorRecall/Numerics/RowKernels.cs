using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace VectorRecall.Numerics;

/// <summary>
/// y += x and y += a·x over one short row, inlined into the loops that run them once per gathered row (embedding
/// bags, scatters of gathered rows' gradients, per-example negatives). TensorPrimitives does the same arithmetic, but
/// for rows of 32–128 floats its per-call cost dominates: 56,000 calls of 32 floats into rows taken at random took
/// 2.75 ms against 0.30 ms here. Multiply then add, unfused, as TensorPrimitives.MultiplyAdd does, so results match.
/// Also y = a·x, batch norm's shifted column moments, and the softmax of a row of logits with an exponential of its own.
/// </summary>
internal static class RowKernels
{
    /// <summary>y += x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Add(ReadOnlySpan<float> x, Span<float> y)
    {
        if (x.Length != y.Length) throw new ArgumentException($"row kernels: rows of {x.Length} and {y.Length} floats");
        int i = 0, w = Vector<float>.Count;
        if (Vector.IsHardwareAccelerated)
            for (; i <= x.Length - w; i += w) (new Vector<float>(y[i..]) + new Vector<float>(x[i..])).CopyTo(y[i..]);
        for (; i < x.Length; i++) y[i] += x[i];
    }

    /// <summary>y += a·x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AddScaled(ReadOnlySpan<float> x, float a, Span<float> y)
    {
        if (x.Length != y.Length) throw new ArgumentException($"row kernels: rows of {x.Length} and {y.Length} floats");
        int i = 0, w = Vector<float>.Count;
        if (Vector.IsHardwareAccelerated)
        {
            var va = new Vector<float>(a);
            for (; i <= x.Length - w; i += w) (new Vector<float>(y[i..]) + new Vector<float>(x[i..]) * va).CopyTo(y[i..]);
        }
        for (; i < x.Length; i++) y[i] += x[i] * a;
    }

    /// <summary>y = a·x (x and y may be the same row).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Scale(ReadOnlySpan<float> x, float a, Span<float> y)
    {
        if (x.Length != y.Length) throw new ArgumentException($"row kernels: rows of {x.Length} and {y.Length} floats");
        int i = 0, w = Vector<float>.Count;
        if (Vector.IsHardwareAccelerated)
        {
            var va = new Vector<float>(a);
            for (; i <= x.Length - w; i += w) (new Vector<float>(x[i..]) * va).CopyTo(y[i..]);
        }
        for (; i < x.Length; i++) y[i] = x[i] * a;
    }

    /// <summary>
    /// sum[j] += Σ_i c and sumSq[j] += Σ_i c·c for c = x[i·stride + j] − shift[j], over <paramref name="rows"/> rows of
    /// shift.Length values <paramref name="stride"/> apart: the shifted column moments of batch norm's statistics, for a
    /// row of x or for a GEMM's finished tile (each column's sums kept in registers down the rows).
    /// </summary>
    public static void AddShiftedMoments(ReadOnlySpan<float> x, int stride, int rows, ReadOnlySpan<float> shift, Span<float> sum, Span<float> sumSq)
    {
        int cols = shift.Length;
        if (sum.Length != cols || sumSq.Length != cols || (rows > 0 && x.Length < (long)(rows - 1) * stride + cols))
            throw new ArgumentException($"row kernels: {rows} rows of {cols} values {stride} apart do not fit {x.Length} values and sums of {sum.Length} and {sumSq.Length}");
        int j = 0, w = Vector<float>.Count;
        if (Vector.IsHardwareAccelerated)
            for (; j <= cols - w; j += w)
            {
                var s = new Vector<float>(shift[j..]);
                var total = new Vector<float>(sum[j..]);
                var squares = new Vector<float>(sumSq[j..]);
                for (int i = 0; i < rows; i++)
                {
                    var c = new Vector<float>(x[(i * stride + j)..]) - s;
                    total += c;
                    squares += c * c;
                }
                total.CopyTo(sum[j..]);
                squares.CopyTo(sumSq[j..]);
            }
        for (; j < cols; j++)
            for (int i = 0; i < rows; i++)
            {
                float c = x[i * stride + j] - shift[j];
                sum[j] += c;
                sumSq[j] += c * c;
            }
    }

    /// <summary>
    /// row ← exp(row − max) / Σ exp(row − max), in place; returns max and that sum (the loss's log-sum-exp is max + log sum).
    /// Not TensorPrimitives.Max/Subtract/Exp/Sum/Divide: inside a training process their generic code tiers up to code
    /// that ran a loss's softmax (1,024 rows of 1,034 logits) 2.5–3× slower than the same calls in a process of their own
    /// (2.6 ms against 1.0 ms; 1.1 ms with tiered compilation off), the JIT's profile of them shaped by other callers.
    /// Entries more than 87.3 below the largest give exactly 0 (a masked logit's weight).
    /// </summary>
    public static (float Max, float Sum) Softmax(Span<float> row)
    {
        var (max, sum) = ExpAboutMax(row, row);
        Scale(row, 1f / sum, row);
        return (max, sum);
    }

    /// <summary>
    /// y ← exp(x − max x), returning max x and Σ y: a softmax before its division by the sum (x and y may be one row).
    /// Entries more than 87.3 below the largest give exactly 0.
    /// </summary>
    public static (float Max, float Sum) ExpAboutMax(ReadOnlySpan<float> x, Span<float> y)
    {
        if (x.IsEmpty) throw new ArgumentException("softmax of an empty row");
        if (x.Length != y.Length) throw new ArgumentException($"row kernels: rows of {x.Length} and {y.Length} floats");
        int i = 0, w = Vector256<float>.Count;
        float max = float.NegativeInfinity;
        if (Vector256.IsHardwareAccelerated && x.Length >= w)
        {
            var vmax = Vector256.Create(float.NegativeInfinity);
            for (; i <= x.Length - w; i += w) vmax = Vector256.Max(vmax, Vector256.Create<float>(x[i..]));
            for (int j = 0; j < w; j++) max = MathF.Max(max, vmax[j]);
        }
        for (; i < x.Length; i++) max = MathF.Max(max, x[i]);

        float sum = 0;
        i = 0;
        if (Vector256.IsHardwareAccelerated && x.Length >= w)
        {
            var vsum = Vector256<float>.Zero;
            var shift = Vector256.Create(max);
            for (; i <= x.Length - w; i += w)
            {
                var e = ExpOfNonPositive(Vector256.Create<float>(x[i..]) - shift);
                e.CopyTo(y[i..]);
                vsum += e;
            }
            sum = Vector256.Sum(vsum);
        }
        for (; i < x.Length; i++)
        {
            float d = x[i] - max;
            sum += y[i] = d < ExpFloor ? 0f : MathF.Exp(d);
        }
        return (max, sum);
    }

    /// <summary>Below this, e^x is not a normal float: the exponentials here give 0.</summary>
    private const float ExpFloor = -87.3365f;

    /// <summary>
    /// e^x for x ≤ 0 (a softmax's shifted logits): x = n·ln 2 + r with |r| ≤ ½ ln 2, e^r by Cephes' single-precision
    /// polynomial (within 2 ulp), 2^n put in the exponent bits; below −87.3 (where 2^n leaves the normal range) 0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ExpOfNonPositive(Vector256<float> x)
    {
        var underflow = Vector256.LessThan(x, Vector256.Create(ExpFloor));
        x = Vector256.Max(x, Vector256.Create(ExpFloor));
        var n = Vector256.Round(x * 1.44269504f);
        // ln 2 in two parts, the first exact in few bits, so that n·ln 2 is subtracted without rounding away r.
        var r = x - n * 0.693359375f + n * 2.12194440e-4f;
        var p = Vector256.Create(1.9875691500e-4f);
        p = p * r + Vector256.Create(1.3981999507e-3f);
        p = p * r + Vector256.Create(8.3334519073e-3f);
        p = p * r + Vector256.Create(4.1665795894e-2f);
        p = p * r + Vector256.Create(1.6666665459e-1f);
        p = p * r + Vector256.Create(5.0000001201e-1f);
        var e = p * (r * r) + r + Vector256<float>.One;
        var scale = Vector256.ShiftLeft(Vector256.ConvertToInt32(n) + Vector256.Create(127), 23).AsSingle();
        return Vector256.ConditionalSelect(underflow, Vector256<float>.Zero, e * scale);
    }
}
