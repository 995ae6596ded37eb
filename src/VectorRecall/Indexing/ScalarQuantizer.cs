using System.Runtime.CompilerServices;
using VectorRecall.Numerics;

namespace VectorRecall.Indexing;

/// <summary>
/// Scalar quantisation (faiss's <c>SQ8</c> and <c>SQ4</c>): each dimension's range, trained on the data, is cut
/// into 255 (8 bits) or 15 (4 bits) equal steps and a vector is stored as one code per dimension. A query is compared with
/// codes without decoding them: q·x̂ = Σ qⱼ·minⱼ + Σ (qⱼ·stepⱼ)·codeⱼ, a constant and, with qⱼ·stepⱼ itself rounded to a
/// byte, an integer dot product (<see cref="Dot"/>). Values outside the trained range are clamped to it.
/// 4-bit codes are packed two to a byte in blocks of 64 dimensions: byte i of a block holds dimension i in its low half
/// and dimension 32 + i in its high half, so one 32-byte load unpacks with a mask and a shift into two runs of 32 codes.
/// </summary>
public sealed class ScalarQuantizer
{
    private const int Block = 64;   // dimensions per packed 4-bit block
    private readonly float[] _min, _step;
    private readonly int _levels;

    /// <summary>A quantiser of <paramref name="bits"/> (8 or 4) per dimension with these minima and steps (each step ≥ 0).</summary>
    public ScalarQuantizer(float[] min, float[] step, int bits = 8)
    {
        if (bits is not (8 or 4)) throw new ArgumentException($"codes have 8 or 4 bits, not {bits}", nameof(bits));
        if (min.Length != step.Length || min.Length == 0) throw new ArgumentException($"{min.Length} minima and {step.Length} steps: one of each per dimension");
        for (int j = 0; j < min.Length; j++)
            if (!float.IsFinite(min[j]) || !float.IsFinite(step[j]) || step[j] < 0) throw new ArgumentException($"dimension {j}: min {min[j]}, step {step[j]} (finite, step ≥ 0)");
        _min = min;
        _step = step;
        Bits = bits;
        _levels = (1 << bits) - 1;
        // Two products of a code and a query value, summed, must fit in 16 bits (vpmaddubsw saturates): 2·255·64 and 2·15·127 do.
        QueryLimit = bits == 8 ? 64 : 127;
    }

    public int Dimension => _min.Length;
    public int Bits { get; }
    public ReadOnlySpan<float> Min => _min;
    public ReadOnlySpan<float> Step => _step;

    /// <summary>Bytes of one code: a byte per dimension, or for 4 bits 32 per block of 64 dimensions (the last block padded).</summary>
    public int CodeBytes => CodeLength(Dimension, Bits);

    /// <summary>Bytes of one code of <paramref name="bits"/> per dimension (<see cref="CodeBytes"/>), before a quantiser is trained.</summary>
    public static int CodeLength(int dimension, int bits) => bits == 8 ? dimension : (dimension + Block - 1) / Block * (Block / 2);

    /// <summary>Length of a quantised query (<see cref="Prepare"/>): the dimension, or for 4 bits whole blocks (zeros beyond it).</summary>
    public int QueryLength => Bits == 8 ? Dimension : (Dimension + Block - 1) / Block * Block;

    /// <summary>The largest magnitude of a quantised query value (<see cref="Prepare"/>).</summary>
    public int QueryLimit { get; }

    /// <summary>Rows a 4-bit range is fitted on, at most: evenly spaced through the training set.</summary>
    private const int SampleRows = 1 << 16;

    /// <summary>Shares of a dimension's values that a range may leave out at each end (they are clamped): 0 is [min, max].</summary>
    private static readonly double[] Tails = [0, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2];

    /// <summary>
    /// Each dimension's range in <paramref name="vectors"/> (rows of <paramref name="dimension"/> floats), cut into
    /// 2^<paramref name="bits"/> − 1 steps. 8-bit codes take [min, max]. 4-bit codes take the range whose round trip has the
    /// least squared error over up to 65,536 of the rows, among ranges that clamp a given share of each tail (faiss's
    /// <c>RS_optim</c> searches ranges the same way): [min, max] grows with the data, and on a million 128-d vectors it spent
    /// the 15 steps on a few extreme values (SQ4 recall@10 0.8814 / 0.9223 / 0.9399 at ef 80 / 160 / 320, fitted 0.8907 /
    /// 0.9305 / 0.9480, the same speed). With 255 steps the range matters little, and [min, max] keeps integer data such as
    /// SIFT's bytes close to exact: fitted 8-bit ranges gave the same recall on 100k and 1M and lost 0.008 on bigann10k at ef 10.
    /// </summary>
    public static ScalarQuantizer Train(ReadOnlySpan<float> vectors, int dimension, int bits = 8)
    {
        if (dimension <= 0 || vectors.Length == 0 || vectors.Length % dimension != 0)
            throw new ArgumentException($"{vectors.Length} floats are no rows of {dimension}: training needs at least one vector");
        float levels = (1 << bits) - 1;
        var min = new float[dimension];
        var step = new float[dimension];
        if (bits == 8)
        {
            var max = new float[dimension];
            vectors[..dimension].CopyTo(min);
            vectors[..dimension].CopyTo(max);
            for (int r = dimension; r < vectors.Length; r += dimension)
            {
                var row = vectors.Slice(r, dimension);
                TensorPrimitives.Min(min, row, min);
                TensorPrimitives.Max(max, row, max);
            }
            for (int j = 0; j < dimension; j++) step[j] = (max[j] - min[j]) / levels;
            return new ScalarQuantizer(min, step, bits);
        }
        int rows = vectors.Length / dimension, stride = Math.Max(1, rows / SampleRows), n = (rows + stride - 1) / stride;
        var column = new float[n];
        for (int j = 0; j < dimension; j++)
        {
            for (int i = 0; i < n; i++) column[i] = vectors[i * stride * dimension + j];
            Array.Sort(column);
            double bestError = double.PositiveInfinity;
            foreach (double tail in Tails)
            {
                int cut = (int)(tail * n);
                float lo = column[cut], width = column[n - 1 - cut] - lo;
                double error = RoundTripError(column, lo, width / levels, levels);
                if (error < bestError) { bestError = error; min[j] = lo; step[j] = width / levels; }
            }
        }
        return new ScalarQuantizer(min, step, bits);
    }

    // Σ (x̂ − x)² over the values, with the range [lo, lo + levels·step].
    private static double RoundTripError(float[] values, float lo, float step, float levels)
    {
        double sum = 0;
        foreach (float v in values)
        {
            double e = lo + Level(v, lo, step, levels) * step - v;
            sum += e * e;
        }
        return sum;
    }

    // The step nearest v, clamped to the range's 0 … levels.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Level(float v, float lo, float step, float levels) =>
        step > 0 ? Math.Clamp(MathF.Round((v - lo) / step), 0f, levels) : 0f;

    /// <summary>The code of <paramref name="x"/> (<see cref="CodeBytes"/> long): each value's nearest step, clamped to the trained range.</summary>
    public void Encode(ReadOnlySpan<float> x, Span<byte> code)
    {
        Check(x.Length, code.Length, CodeBytes);
        if (Bits == 4) code.Clear();
        for (int j = 0; j < x.Length; j++)
        {
            byte value = (byte)Level(x[j], _min[j], _step[j], _levels);
            if (Bits == 8) code[j] = value;
            else code[Packed(j)] |= (byte)(value << Shift(j));
        }
    }

    /// <summary>The vector a code stands for.</summary>
    public void Decode(ReadOnlySpan<byte> code, Span<float> x)
    {
        Check(x.Length, code.Length, CodeBytes);
        if (Bits == 8)
        {
            // Vectorised: a graph built without exact vectors decodes a few thousand codes per insert.
            TensorPrimitives.ConvertChecked<byte, float>(code, x);
            TensorPrimitives.FusedMultiplyAdd(x, _step, _min, x);
            return;
        }
        for (int j = 0; j < x.Length; j++) x[j] = _min[j] + _step[j] * ((code[Packed(j)] >> Shift(j)) & 15);
    }

    // Dimension j of a 4-bit code: byte (block, j mod 32), the high half for the second 32 of the block.
    private static int Packed(int j) => j / Block * (Block / 2) + j % (Block / 2);
    private static int Shift(int j) => j % Block >= Block / 2 ? 4 : 0;

    /// <summary>
    /// Quantises the query for comparison with codes: qⱼ·stepⱼ, rounded to integers in [−<see cref="QueryLimit"/>,
    /// <see cref="QueryLimit"/>] on a common scale, into <paramref name="quantised"/> (<see cref="QueryLength"/> long). Returns
    /// (offset, scale) such that q·x̂ ≈ offset + scale·<see cref="Dot"/>(code, quantised); the rounding costs at most scale/2
    /// per dimension and code unit, which the exact re-ranking of the final candidates removes.
    /// </summary>
    public (float Offset, float Scale) Prepare(ReadOnlySpan<float> query, Span<sbyte> quantised)
    {
        Check(query.Length, quantised.Length, QueryLength);
        float largest = 0;
        for (int j = 0; j < query.Length; j++) largest = MathF.Max(largest, MathF.Abs(query[j] * _step[j]));
        float scale = largest / QueryLimit;
        for (int j = 0; j < query.Length; j++)
            quantised[j] = scale > 0 ? (sbyte)Math.Clamp(MathF.Round(query[j] * _step[j] / scale), -QueryLimit, QueryLimit) : (sbyte)0;
        quantised[query.Length..].Clear();
        return (TensorPrimitives.Dot(query, _min), scale);
    }

    /// <summary>Σ codeⱼ·queryⱼ of a code and a <see cref="Prepare"/>d query, as integers.</summary>
    internal unsafe int Dot(byte* code, sbyte* query) =>
        Bits == 8 ? Distances.DotBytes(code, query, Dimension) : Distances.DotNibbles(code, query, QueryLength / Block);

    /// <summary>The largest error a value in the trained range can have after a round trip: half a step (values outside are clamped to it).</summary>
    public float MaxError(int dimension) => _step[dimension] / 2;

    private void Check(int floats, int other, int otherLength)
    {
        if (floats != Dimension || other != otherLength) throw new ArgumentException($"the quantiser has {Dimension} dimensions ({otherLength} code or query bytes), given {floats} and {other}");
    }
}
