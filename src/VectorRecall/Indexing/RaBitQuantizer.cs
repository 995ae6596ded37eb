using VectorRecall.Numerics;

namespace VectorRecall.Indexing;

/// <summary>
/// One-bit codes with an unbiased distance estimate and an error bound (RaBitQ: Gao and Long, SIGMOD 2024). A vector o is
/// taken relative to the data's centroid c, turned by a random rotation P (its dimension padded to a power of two: three
/// rounds of random sign flips and a Walsh–Hadamard transform, O(D log D) and no matrix), and stored as the signs of P(o − c): <see cref="CodeBytes"/> bytes, bit i in bit i % 8 of byte i / 8. Three floats per code
/// turn the estimate of the normalised residuals' inner product, ⟨x̄, P(q − c)⟩ / ⟨x̄, P(o − c)/‖o − c‖⟩ with x̄ the signs
/// over √D, into the index's distance (1 − inner product, or squared L2): <see cref="CodeFactors"/>. A query becomes one
/// byte table of 16 entries per 4 dimensions (<see cref="Prepare"/>), so 32 codes are estimated at a time by
/// <see cref="FastScan"/>. The paper's error bound, <see cref="QueryTables.ResidualNorm"/>·error factor, is about one standard
/// deviation of a close to normal error (measured: 94 % of estimates within 1.9 of them, 99.9 % within 3.3); a walk uses it
/// to decide whether a neighbour may be near.
/// </summary>
internal sealed class RaBitQuantizer
{
    private const int Rounds = 3;                    // sign flips then a Hadamard transform, three times over
    private readonly float[] _centroid, _signs;     // signs: Rounds × Padded values of ±1/√Padded (the transform's scale folded in)
    private readonly float _centroidNorm;

    /// <summary>A quantiser for <paramref name="metric"/> around <paramref name="centroid"/>, its rotation drawn from <paramref name="seed"/>.</summary>
    public RaBitQuantizer(float[] centroid, ulong seed, Metric metric)
    {
        if (centroid.Length == 0) throw new ArgumentException("the centroid is empty", nameof(centroid));
        foreach (float v in centroid) if (!float.IsFinite(v)) throw new ArgumentException("the centroid holds a NaN or infinite value", nameof(centroid));
        _centroid = centroid;
        Metric = metric;
        Seed = seed;
        Padded = PaddedOf(centroid.Length);
        _signs = RandomSigns(Padded, seed);
        _centroidNorm = TensorPrimitives.Dot<float>(centroid, centroid);
    }

    public int Dimension => _centroid.Length;
    /// <summary>The dimension codes have: <see cref="Dimension"/> rounded up to a power of two, at least 8.</summary>
    public int Padded { get; }

    /// <summary><see cref="Padded"/> for a dimension, before a quantiser exists.</summary>
    public static int PaddedOf(int dimension) => (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(8, dimension));
    /// <summary>4-bit table positions per code (<see cref="FastScan"/>'s groups).</summary>
    public int Groups => Padded / 4;
    public int CodeBytes => Padded / 8;
    public Metric Metric { get; }
    public ulong Seed { get; }
    public ReadOnlySpan<float> Centroid => _centroid;

    /// <summary>The centroid of <paramref name="vectors"/> (rows of <paramref name="dimension"/>, as the index stores them).</summary>
    public static RaBitQuantizer Train(ReadOnlySpan<float> vectors, int dimension, ulong seed, Metric metric)
    {
        if (dimension <= 0 || vectors.Length == 0 || vectors.Length % dimension != 0)
            throw new ArgumentException($"{vectors.Length} floats are no rows of {dimension}: training needs at least one vector");
        var sum = new double[dimension];
        for (int r = 0; r < vectors.Length; r += dimension)
            for (int j = 0; j < dimension; j++) sum[j] += vectors[r + j];
        int rows = vectors.Length / dimension;
        var centroid = new float[dimension];
        for (int j = 0; j < dimension; j++) centroid[j] = (float)(sum[j] / rows);
        return new RaBitQuantizer(centroid, seed, metric);
    }

    /// <summary>
    /// What turns a code's table sum into a distance: estimate = <see cref="Add"/> + query's add + <see cref="Scale"/>·(bias +
    /// unit·sum); <see cref="Error"/> times the query's residual norm bounds its error (before ε).
    /// </summary>
    public readonly record struct CodeFactors(float Scale, float Add, float Error);

    /// <summary>A query's tables and the terms its estimates share.</summary>
    public readonly record struct QueryTables(float Add, float Bias, float Unit, float ResidualNorm);

    /// <summary>
    /// The code of <paramref name="x"/> into <paramref name="code"/> (<see cref="CodeBytes"/>), with its factors;
    /// <paramref name="rotated"/> is room for <see cref="Padded"/> floats.
    /// </summary>
    public CodeFactors Encode(ReadOnlySpan<float> x, Span<byte> code, Span<float> rotated)
    {
        Check(x.Length, code.Length, CodeBytes);
        float norm2 = Rotate(x, rotated, out _);
        code.Clear();
        float absSum = 0;
        for (int i = 0; i < Padded; i++)
        {
            if (rotated[i] > 0) code[i >> 3] |= (byte)(1 << (i & 7));
            absSum += MathF.Abs(rotated[i]);
        }
        float norm = MathF.Sqrt(norm2);
        // ⟨o − c, q − c⟩ ≈ ‖o − c‖² / Σ|P(o − c)ᵢ| · ⟨2b − 1, P(q − c)⟩; a vector at the centroid has no residual to estimate.
        float f = absSum > 0 ? norm2 / absSum : 0f;
        float alignment = norm > 0 ? absSum / (norm * MathF.Sqrt(Padded)) : 1f;   // ⟨x̄, r⟩, the code's cosine with the residual
        float spread = norm * MathF.Sqrt(MathF.Max(0f, 1f / (alignment * alignment) - 1f)) / MathF.Sqrt(Math.Max(1, Padded - 1));
        return Metric == Metric.L2
            // ‖o − q‖² = ‖o − c‖² + ‖q − c‖² − 2⟨o − c, q − c⟩
            ? new CodeFactors(-2 * f, norm2, 2 * spread)
            // 1 − ⟨o, q⟩ = 1 − ⟨o − c, q − c⟩ − ⟨o, c⟩ − ⟨q, c⟩ + ‖c‖²
            : new CodeFactors(-f, -TensorPrimitives.Dot(x, _centroid), spread);
    }

    /// <summary>
    /// The tables for <paramref name="query"/> (as the index stores vectors: normalised for cosine): for each 4 dimensions of
    /// P(q − c), the 16 sums of its subsets, as bytes on one scale, into <paramref name="tables"/> (16·<see cref="Groups"/>);
    /// <paramref name="rotated"/> is room for <see cref="Padded"/> floats.
    /// </summary>
    public unsafe QueryTables Prepare(ReadOnlySpan<float> query, Span<byte> tables, Span<float> rotated)
    {
        Check(query.Length, tables.Length, 16 * Groups);
        float norm2 = Rotate(query, rotated, out float centroidDot);
        float total = 0, lowest = 0, widest = 0;
        for (int g = 0; g < Groups; g++)
        {
            float neg = 0, pos = 0;
            for (int t = 0; t < 4; t++) { float v = rotated[4 * g + t]; if (v < 0) neg += v; else pos += v; total += v; }
            lowest += neg;
            widest = MathF.Max(widest, pos - neg);
        }
        float unit = widest > 0 ? widest / 255 : 1f;
        Span<float> subset = stackalloc float[16];
        for (int g = 0; g < Groups; g++)
        {
            float neg = 0;
            subset[0] = 0;
            for (int n = 1; n < 16; n++)
            {
                int bit = System.Numerics.BitOperations.TrailingZeroCount(n);
                subset[n] = subset[n & (n - 1)] + rotated[4 * g + bit];
            }
            for (int t = 0; t < 4; t++) neg += MathF.Min(0f, rotated[4 * g + t]);
            for (int n = 0; n < 16; n++) tables[16 * g + n] = (byte)Math.Clamp(MathF.Round((subset[n] - neg) / unit), 0f, 255f);
        }
        // Σ over set bits ≈ lowest + unit·sum, and ⟨2b − 1, P(q − c)⟩ = 2·Σ over set bits − total.
        float add = Metric == Metric.L2 ? norm2 : 1f - centroidDot + _centroidNorm;
        return new QueryTables(add, 2 * lowest - total, 2 * unit, MathF.Sqrt(norm2));
    }

    /// <summary>The estimated distance of a code with <paramref name="factors"/> whose table sum is <paramref name="sum"/>.</summary>
    public static float Estimate(in QueryTables query, in CodeFactors factors, int sum) =>
        factors.Add + query.Add + factors.Scale * (query.Bias + query.Unit * sum);

    /// <summary>P(x − c) into <paramref name="rotated"/>; returns ‖x − c‖² and gives ⟨x, c⟩.</summary>
    private float Rotate(ReadOnlySpan<float> x, Span<float> rotated, out float centroidDot)
    {
        if (rotated.Length < Padded) throw new ArgumentException($"room for {Padded} rotated values needed, given {rotated.Length}");
        var y = rotated[..Padded];
        TensorPrimitives.Subtract(x, _centroid, y[..Dimension]);
        y[Dimension..].Clear();
        float norm2 = TensorPrimitives.Dot<float>(y, y);
        centroidDot = TensorPrimitives.Dot(x, _centroid);
        for (int round = 0; round < Rounds; round++)
        {
            TensorPrimitives.Multiply(y, _signs.AsSpan(round * Padded, Padded), y);
            Hadamard(y);
        }
        return norm2;
    }

    /// <summary>The unnormalised Walsh–Hadamard transform in place (its 1/√n is folded into the signs).</summary>
    private static void Hadamard(Span<float> y)
    {
        for (int h = 1; h < y.Length; h *= 2)
            for (int i = 0; i < y.Length; i += 2 * h)
            {
                var a = y.Slice(i, h);
                var b = y.Slice(i + h, h);
                for (int j = 0; j < h; j++) { float u = a[j], v = b[j]; a[j] = u + v; b[j] = u - v; }
            }
    }

    /// <summary>Rounds × n random signs scaled by 1/√n, drawn from <paramref name="seed"/>: a saved index rebuilds the same rotation.</summary>
    private static float[] RandomSigns(int n, ulong seed)
    {
        var rng = new Rng(seed ^ 0x5241426974510000UL);
        float scale = 1f / MathF.Sqrt(n);
        var signs = new float[Rounds * n];
        for (int i = 0; i < signs.Length; i++) signs[i] = (rng.NextUInt64() & 1) == 0 ? scale : -scale;
        return signs;
    }

    private void Check(int floats, int other, int otherLength)
    {
        if (floats != Dimension || other != otherLength) throw new ArgumentException($"the quantiser has {Dimension} dimensions ({otherLength} code or table bytes), given {floats} and {other}");
    }
}
