using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace VectorRecall.Numerics;

/// <summary>
/// Similarity of one query against one row or many rows: inner product, squared L2 and cosine.
/// Each kernel has a vectorised path (Vector512 where the CPU accelerates it, else Vector256) and
/// a scalar reference (<c>…Reference</c>) the tests hold it to. Rows are stored contiguously,
/// <c>rows.Length / dim</c> of them; scores are written to <c>scores[i]</c> for row i.
/// </summary>
public static class Distances
{
    public static float Dot(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        CheckSameLength(x.Length, y.Length);
        return Vector512.IsHardwareAccelerated ? Dot512(x, y)
            : Vector256.IsHardwareAccelerated ? Dot256(x, y)
            : DotReference(x, y);
    }

    public static float SquaredL2(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        CheckSameLength(x.Length, y.Length);
        return Vector512.IsHardwareAccelerated ? SquaredL2_512(x, y)
            : Vector256.IsHardwareAccelerated ? SquaredL2_256(x, y)
            : SquaredL2Reference(x, y);
    }

    // Two accumulators hide the FMA latency; the tail is scalar.
    internal static float Dot512(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        ref float px = ref MemoryMarshal.GetReference(x), py = ref MemoryMarshal.GetReference(y);
        int n = x.Length, i = 0;
        Vector512<float> acc0 = default, acc1 = default;
        for (; i <= n - 32; i += 32)
        {
            acc0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref px, (nuint)i), Vector512.LoadUnsafe(ref py, (nuint)i), acc0);
            acc1 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref px, (nuint)i + 16), Vector512.LoadUnsafe(ref py, (nuint)i + 16), acc1);
        }
        for (; i <= n - 16; i += 16)
            acc0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref px, (nuint)i), Vector512.LoadUnsafe(ref py, (nuint)i), acc0);
        float sum = Vector512.Sum(acc0 + acc1);
        for (; i < n; i++) sum += Unsafe.Add(ref px, i) * Unsafe.Add(ref py, i);
        return sum;
    }

    internal static float Dot256(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        ref float px = ref MemoryMarshal.GetReference(x), py = ref MemoryMarshal.GetReference(y);
        int n = x.Length, i = 0;
        Vector256<float> acc0 = default, acc1 = default;
        for (; i <= n - 16; i += 16)
        {
            acc0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref px, (nuint)i), Vector256.LoadUnsafe(ref py, (nuint)i), acc0);
            acc1 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref px, (nuint)i + 8), Vector256.LoadUnsafe(ref py, (nuint)i + 8), acc1);
        }
        for (; i <= n - 8; i += 8)
            acc0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref px, (nuint)i), Vector256.LoadUnsafe(ref py, (nuint)i), acc0);
        float sum = Vector256.Sum(acc0 + acc1);
        for (; i < n; i++) sum += Unsafe.Add(ref px, i) * Unsafe.Add(ref py, i);
        return sum;
    }

    internal static float SquaredL2_512(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        ref float px = ref MemoryMarshal.GetReference(x), py = ref MemoryMarshal.GetReference(y);
        int n = x.Length, i = 0;
        Vector512<float> acc0 = default, acc1 = default;
        for (; i <= n - 32; i += 32)
        {
            var d0 = Vector512.LoadUnsafe(ref px, (nuint)i) - Vector512.LoadUnsafe(ref py, (nuint)i);
            var d1 = Vector512.LoadUnsafe(ref px, (nuint)i + 16) - Vector512.LoadUnsafe(ref py, (nuint)i + 16);
            acc0 = Vector512.FusedMultiplyAdd(d0, d0, acc0);
            acc1 = Vector512.FusedMultiplyAdd(d1, d1, acc1);
        }
        for (; i <= n - 16; i += 16)
        {
            var d = Vector512.LoadUnsafe(ref px, (nuint)i) - Vector512.LoadUnsafe(ref py, (nuint)i);
            acc0 = Vector512.FusedMultiplyAdd(d, d, acc0);
        }
        float sum = Vector512.Sum(acc0 + acc1);
        for (; i < n; i++)
        {
            float d = Unsafe.Add(ref px, i) - Unsafe.Add(ref py, i);
            sum += d * d;
        }
        return sum;
    }

    internal static float SquaredL2_256(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        ref float px = ref MemoryMarshal.GetReference(x), py = ref MemoryMarshal.GetReference(y);
        int n = x.Length, i = 0;
        Vector256<float> acc0 = default, acc1 = default;
        for (; i <= n - 16; i += 16)
        {
            var d0 = Vector256.LoadUnsafe(ref px, (nuint)i) - Vector256.LoadUnsafe(ref py, (nuint)i);
            var d1 = Vector256.LoadUnsafe(ref px, (nuint)i + 8) - Vector256.LoadUnsafe(ref py, (nuint)i + 8);
            acc0 = Vector256.FusedMultiplyAdd(d0, d0, acc0);
            acc1 = Vector256.FusedMultiplyAdd(d1, d1, acc1);
        }
        for (; i <= n - 8; i += 8)
        {
            var d = Vector256.LoadUnsafe(ref px, (nuint)i) - Vector256.LoadUnsafe(ref py, (nuint)i);
            acc0 = Vector256.FusedMultiplyAdd(d, d, acc0);
        }
        float sum = Vector256.Sum(acc0 + acc1);
        for (; i < n; i++)
        {
            float d = Unsafe.Add(ref px, i) - Unsafe.Add(ref py, i);
            sum += d * d;
        }
        return sum;
    }

    /// <summary>Cosine similarity; 0 when either vector is all zeros.</summary>
    public static float Cosine(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        float nx = Dot(x, x), ny = Dot(y, y);
        if (nx == 0 || ny == 0) return 0;
        return Dot(x, y) / MathF.Sqrt(nx * ny);
    }

    public static void DotMany(ReadOnlySpan<float> query, ReadOnlySpan<float> rows, Span<float> scores)
    {
        int dim = CheckMany(query, rows, scores);
        for (int r = 0; r < scores.Length; r++) scores[r] = Dot(query, rows.Slice(r * dim, dim));
    }

    public static void SquaredL2Many(ReadOnlySpan<float> query, ReadOnlySpan<float> rows, Span<float> scores)
    {
        int dim = CheckMany(query, rows, scores);
        for (int r = 0; r < scores.Length; r++) scores[r] = SquaredL2(query, rows.Slice(r * dim, dim));
    }

    public static void CosineMany(ReadOnlySpan<float> query, ReadOnlySpan<float> rows, Span<float> scores)
    {
        int dim = CheckMany(query, rows, scores);
        float qq = Dot(query, query);
        for (int r = 0; r < scores.Length; r++)
        {
            var row = rows.Slice(r * dim, dim);
            float rr = Dot(row, row);
            scores[r] = qq == 0 || rr == 0 ? 0 : Dot(query, row) / MathF.Sqrt(qq * rr);
        }
    }

    public static float DotReference(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        CheckSameLength(x.Length, y.Length);
        double sum = 0;
        for (int i = 0; i < x.Length; i++) sum += (double)x[i] * y[i];
        return (float)sum;
    }

    public static float SquaredL2Reference(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        CheckSameLength(x.Length, y.Length);
        double sum = 0;
        for (int i = 0; i < x.Length; i++) { double d = (double)x[i] - y[i]; sum += d * d; }
        return (float)sum;
    }

    public static float CosineReference(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        double nx = DotReference(x, x), ny = DotReference(y, y);
        if (nx == 0 || ny == 0) return 0;
        return (float)(DotReference(x, y) / Math.Sqrt(nx * ny));
    }

    private static void CheckSameLength(int a, int b)
    {
        if (a != b) throw new ArgumentException($"vectors differ in length: {a} and {b}");
    }

    private static int CheckMany(ReadOnlySpan<float> query, ReadOnlySpan<float> rows, Span<float> scores)
    {
        int dim = query.Length;
        if (dim == 0) throw new ArgumentException("query is empty");
        if (rows.Length != scores.Length * dim)
            throw new ArgumentException($"{rows.Length} row values do not make {scores.Length} rows of dimension {dim}");
        return dim;
    }
}
