using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace VectorRecall.Numerics;

/// <summary>
/// Similarity of one query against one row or many rows: inner product, squared L2 and cosine.
/// Each kernel has a vectorised path (Vector512 where the CPU accelerates it, else Vector256) and
/// a scalar reference (<c>…Reference</c>) the tests hold it to. Rows are stored contiguously,
/// <c>rows.Length / dim</c> of them; scores are written to <c>scores[i]</c> for row i.
/// </summary>
internal static unsafe class Distances
{
    public static float Dot(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        CheckSameLength(x.Length, y.Length);
        fixed (float* px = x) fixed (float* py = y) return Dot(px, py, x.Length);
    }

    public static float SquaredL2(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        CheckSameLength(x.Length, y.Length);
        fixed (float* px = x) fixed (float* py = y) return SquaredL2(px, py, x.Length);
    }

    /// <summary>Inner product of <paramref name="n"/> floats at two addresses: the kernel graph searches call per visited node.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(float* x, float* y, int n) =>
        Vector512.IsHardwareAccelerated ? Dot512(x, y, n) : Vector256.IsHardwareAccelerated ? Dot256(x, y, n) : DotScalar(x, y, n);

    /// <summary>Squared Euclidean distance of <paramref name="n"/> floats at two addresses.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SquaredL2(float* x, float* y, int n) =>
        Vector512.IsHardwareAccelerated ? SquaredL2_512(x, y, n) : Vector256.IsHardwareAccelerated ? SquaredL2_256(x, y, n) : SquaredL2Scalar(x, y, n);

    // Four accumulators hide the FMA latency on long vectors; then one vector at a time; the tail is scalar.
    internal static float Dot512(float* x, float* y, int n)
    {
        int i = 0;
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (; i <= n - 64; i += 64)
        {
            a0 = Vector512.FusedMultiplyAdd(Vector512.Load(x + i), Vector512.Load(y + i), a0);
            a1 = Vector512.FusedMultiplyAdd(Vector512.Load(x + i + 16), Vector512.Load(y + i + 16), a1);
            a2 = Vector512.FusedMultiplyAdd(Vector512.Load(x + i + 32), Vector512.Load(y + i + 32), a2);
            a3 = Vector512.FusedMultiplyAdd(Vector512.Load(x + i + 48), Vector512.Load(y + i + 48), a3);
        }
        for (; i <= n - 16; i += 16) a0 = Vector512.FusedMultiplyAdd(Vector512.Load(x + i), Vector512.Load(y + i), a0);
        float sum = Vector512.Sum((a0 + a1) + (a2 + a3));
        for (; i < n; i++) sum += x[i] * y[i];
        return sum;
    }

    internal static float Dot256(float* x, float* y, int n)
    {
        int i = 0;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (; i <= n - 32; i += 32)
        {
            a0 = Vector256.FusedMultiplyAdd(Vector256.Load(x + i), Vector256.Load(y + i), a0);
            a1 = Vector256.FusedMultiplyAdd(Vector256.Load(x + i + 8), Vector256.Load(y + i + 8), a1);
            a2 = Vector256.FusedMultiplyAdd(Vector256.Load(x + i + 16), Vector256.Load(y + i + 16), a2);
            a3 = Vector256.FusedMultiplyAdd(Vector256.Load(x + i + 24), Vector256.Load(y + i + 24), a3);
        }
        for (; i <= n - 8; i += 8) a0 = Vector256.FusedMultiplyAdd(Vector256.Load(x + i), Vector256.Load(y + i), a0);
        float sum = Vector256.Sum((a0 + a1) + (a2 + a3));
        for (; i < n; i++) sum += x[i] * y[i];
        return sum;
    }

    internal static float SquaredL2_512(float* x, float* y, int n)
    {
        int i = 0;
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (; i <= n - 64; i += 64)
        {
            var d0 = Vector512.Load(x + i) - Vector512.Load(y + i);
            var d1 = Vector512.Load(x + i + 16) - Vector512.Load(y + i + 16);
            var d2 = Vector512.Load(x + i + 32) - Vector512.Load(y + i + 32);
            var d3 = Vector512.Load(x + i + 48) - Vector512.Load(y + i + 48);
            a0 = Vector512.FusedMultiplyAdd(d0, d0, a0);
            a1 = Vector512.FusedMultiplyAdd(d1, d1, a1);
            a2 = Vector512.FusedMultiplyAdd(d2, d2, a2);
            a3 = Vector512.FusedMultiplyAdd(d3, d3, a3);
        }
        for (; i <= n - 16; i += 16)
        {
            var d = Vector512.Load(x + i) - Vector512.Load(y + i);
            a0 = Vector512.FusedMultiplyAdd(d, d, a0);
        }
        float sum = Vector512.Sum((a0 + a1) + (a2 + a3));
        for (; i < n; i++) { float d = x[i] - y[i]; sum += d * d; }
        return sum;
    }

    internal static float SquaredL2_256(float* x, float* y, int n)
    {
        int i = 0;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (; i <= n - 32; i += 32)
        {
            var d0 = Vector256.Load(x + i) - Vector256.Load(y + i);
            var d1 = Vector256.Load(x + i + 8) - Vector256.Load(y + i + 8);
            var d2 = Vector256.Load(x + i + 16) - Vector256.Load(y + i + 16);
            var d3 = Vector256.Load(x + i + 24) - Vector256.Load(y + i + 24);
            a0 = Vector256.FusedMultiplyAdd(d0, d0, a0);
            a1 = Vector256.FusedMultiplyAdd(d1, d1, a1);
            a2 = Vector256.FusedMultiplyAdd(d2, d2, a2);
            a3 = Vector256.FusedMultiplyAdd(d3, d3, a3);
        }
        for (; i <= n - 8; i += 8)
        {
            var d = Vector256.Load(x + i) - Vector256.Load(y + i);
            a0 = Vector256.FusedMultiplyAdd(d, d, a0);
        }
        float sum = Vector256.Sum((a0 + a1) + (a2 + a3));
        for (; i < n; i++) { float d = x[i] - y[i]; sum += d * d; }
        return sum;
    }

    /// <summary>
    /// Σ codes[i]·query[i] over <paramref name="n"/> bytes: the inner kernel of 8-bit scalar-quantised search, codes unsigned
    /// and the query quantised to signed values in [−64, 64], so that a pair of products fits in 16 bits without saturating.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int DotBytes(byte* codes, sbyte* query, int n) => Avx2.IsSupported ? DotBytes256(codes, query, n) : DotBytesScalar(codes, query, n);

    // 32 products per instruction (vpmaddubsw: unsigned by signed bytes, adjacent pairs summed to int16), then pairs of
    // those summed to int32 (vpmaddwd by ones): about a quarter of the instructions of a float dot of the same width.
    internal static int DotBytes256(byte* codes, sbyte* query, int n)
    {
        int i = 0;
        var ones = Vector256.Create((short)1);
        Vector256<int> a0 = default, a1 = default;
        for (; i <= n - 64; i += 64)
        {
            a0 = Avx2.Add(a0, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Avx.LoadVector256(codes + i), Avx.LoadVector256(query + i)), ones));
            a1 = Avx2.Add(a1, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Avx.LoadVector256(codes + i + 32), Avx.LoadVector256(query + i + 32)), ones));
        }
        for (; i <= n - 32; i += 32)
            a0 = Avx2.Add(a0, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Avx.LoadVector256(codes + i), Avx.LoadVector256(query + i)), ones));
        int sum = Vector256.Sum(a0 + a1);
        for (; i < n; i++) sum += codes[i] * query[i];
        return sum;
    }

    /// <summary>
    /// Σ codeⱼ·queryⱼ over <paramref name="blocks"/> blocks of 64 4-bit codes packed as <see cref="Indexing.ScalarQuantizer"/>
    /// lays them out (byte i of a block: code i low, code 32 + i high) and 64 signed query bytes per block.
    /// </summary>
    public static int DotNibbles(byte* codes, sbyte* query, int blocks) => Avx2.IsSupported ? DotNibbles256(codes, query, blocks) : DotNibblesScalar(codes, query, blocks);

    // One load gives two runs of 32 codes (a mask, and a 16-bit shift then the mask); each then goes as DotBytes256's.
    internal static int DotNibbles256(byte* codes, sbyte* query, int blocks)
    {
        var ones = Vector256.Create((short)1);
        var low = Vector256.Create((byte)15);
        Vector256<int> a0 = default, a1 = default;
        for (int b = 0; b < blocks; b++)
        {
            var packed = Avx.LoadVector256(codes + 32 * b);
            var first = Avx2.And(packed, low);
            var second = Avx2.And(Avx2.ShiftRightLogical(packed.AsUInt16(), 4).AsByte(), low);
            a0 = Avx2.Add(a0, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(first, Avx.LoadVector256(query + 64 * b)), ones));
            a1 = Avx2.Add(a1, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(second, Avx.LoadVector256(query + 64 * b + 32)), ones));
        }
        return Vector256.Sum(a0 + a1);
    }

    internal static int DotNibblesScalar(byte* codes, sbyte* query, int blocks)
    {
        int sum = 0;
        for (int b = 0; b < blocks; b++)
            for (int i = 0; i < 32; i++)
            {
                int packed = codes[32 * b + i];
                sum += (packed & 15) * query[64 * b + i] + (packed >> 4) * query[64 * b + 32 + i];
            }
        return sum;
    }

    /// <summary>Writes <paramref name="x"/> as IEEE half-precision bits, rounded to nearest, magnitudes past 65,504 clamped to it.</summary>
    public static void ToHalves(ReadOnlySpan<float> x, ushort* halves)
    {
        for (int i = 0; i < x.Length; i++) halves[i] = BitConverter.HalfToUInt16Bits((Half)Math.Clamp(x[i], -65504f, 65504f));
    }

    /// <summary>Inner product of <paramref name="n"/> floats and <paramref name="n"/> half-precision values.</summary>
    public static float DotHalves(float* x, ushort* halves, int n) => Avx2.IsSupported && Fma.IsSupported ? DotHalves256(x, halves, n) : DotHalvesScalar(x, halves, n);

    /// <summary>Squared Euclidean distance of <paramref name="n"/> floats and <paramref name="n"/> half-precision values.</summary>
    public static float SquaredL2Halves(float* x, ushort* halves, int n) => Avx2.IsSupported && Fma.IsSupported ? SquaredL2Halves256(x, halves, n) : SquaredL2HalvesScalar(x, halves, n);

    // Eight halves to floats without F16C (which .NET does not expose): the exponent and mantissa shifted into a float's
    // fields read as 2^(e−127)·1.m, and one multiply by 2^112 rebiases it to 2^(e−15)·1.m (subnormals and zero come out
    // right too); then the sign. Finite values only, which is all ToHalves writes.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Widen(ushort* halves)
    {
        var bits = Avx2.ConvertToVector256Int32(Sse2.LoadVector128(halves)).AsUInt32();
        var magnitude = Avx2.ShiftLeftLogical(bits & Vector256.Create(0x7FFFu), 13).AsSingle() * Vector256.Create(5.192297e33f);
        return (magnitude.AsUInt32() | Avx2.ShiftLeftLogical(bits & Vector256.Create(0x8000u), 16)).AsSingle();
    }

    internal static float DotHalves256(float* x, ushort* halves, int n)
    {
        int i = 0;
        Vector256<float> a0 = default, a1 = default;
        for (; i <= n - 16; i += 16)
        {
            a0 = Fma.MultiplyAdd(Avx.LoadVector256(x + i), Widen(halves + i), a0);
            a1 = Fma.MultiplyAdd(Avx.LoadVector256(x + i + 8), Widen(halves + i + 8), a1);
        }
        for (; i <= n - 8; i += 8) a0 = Fma.MultiplyAdd(Avx.LoadVector256(x + i), Widen(halves + i), a0);
        return Vector256.Sum(a0 + a1) + DotHalvesScalar(x + i, halves + i, n - i);
    }

    internal static float SquaredL2Halves256(float* x, ushort* halves, int n)
    {
        int i = 0;
        Vector256<float> a0 = default, a1 = default;
        for (; i <= n - 16; i += 16)
        {
            var d0 = Avx.LoadVector256(x + i) - Widen(halves + i);
            var d1 = Avx.LoadVector256(x + i + 8) - Widen(halves + i + 8);
            a0 = Fma.MultiplyAdd(d0, d0, a0);
            a1 = Fma.MultiplyAdd(d1, d1, a1);
        }
        for (; i <= n - 8; i += 8)
        {
            var d = Avx.LoadVector256(x + i) - Widen(halves + i);
            a0 = Fma.MultiplyAdd(d, d, a0);
        }
        return Vector256.Sum(a0 + a1) + SquaredL2HalvesScalar(x + i, halves + i, n - i);
    }

    internal static float DotHalvesScalar(float* x, ushort* halves, int n)
    {
        float sum = 0;
        for (int i = 0; i < n; i++) sum += x[i] * (float)BitConverter.UInt16BitsToHalf(halves[i]);
        return sum;
    }

    internal static float SquaredL2HalvesScalar(float* x, ushort* halves, int n)
    {
        float sum = 0;
        for (int i = 0; i < n; i++) { float d = x[i] - (float)BitConverter.UInt16BitsToHalf(halves[i]); sum += d * d; }
        return sum;
    }

    internal static int DotBytesScalar(byte* codes, sbyte* query, int n)
    {
        int sum = 0;
        for (int i = 0; i < n; i++) sum += codes[i] * query[i];
        return sum;
    }

    private static float DotScalar(float* x, float* y, int n)
    {
        float sum = 0;
        for (int i = 0; i < n; i++) sum += x[i] * y[i];
        return sum;
    }

    private static float SquaredL2Scalar(float* x, float* y, int n)
    {
        float sum = 0;
        for (int i = 0; i < n; i++) { float d = x[i] - y[i]; sum += d * d; }
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
