using VectorRecall.Numerics;

namespace VectorRecall.Indexing;

/// <summary>
/// Scalar quantisation (faiss's <c>SQ8</c> and <c>SQ4</c>): each dimension's range [min, max], trained on the data, is cut
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

    /// <summary>The ranges of <paramref name="vectors"/> (rows of <paramref name="dimension"/> floats), each cut into 2^<paramref name="bits"/> − 1 steps.</summary>
    public static ScalarQuantizer Train(ReadOnlySpan<float> vectors, int dimension, int bits = 8)
    {
        if (dimension <= 0 || vectors.Length == 0 || vectors.Length % dimension != 0)
            throw new ArgumentException($"{vectors.Length} floats are no rows of {dimension}: training needs at least one vector");
        var min = new float[dimension];
        var max = new float[dimension];
        vectors[..dimension].CopyTo(min);
        vectors[..dimension].CopyTo(max);
        for (int r = dimension; r < vectors.Length; r += dimension)
        {
            var row = vectors.Slice(r, dimension);
            TensorPrimitives.Min(min, row, min);
            TensorPrimitives.Max(max, row, max);
        }
        var step = new float[dimension];
        float levels = (1 << bits) - 1;
        for (int j = 0; j < dimension; j++) step[j] = (max[j] - min[j]) / levels;
        return new ScalarQuantizer(min, step, bits);
    }

    /// <summary>The code of <paramref name="x"/> (<see cref="CodeBytes"/> long): each value's nearest step, clamped to the trained range.</summary>
    public void Encode(ReadOnlySpan<float> x, Span<byte> code)
    {
        Check(x.Length, code.Length, CodeBytes);
        if (Bits == 4) code.Clear();
        for (int j = 0; j < x.Length; j++)
        {
            float level = _step[j] > 0 ? (x[j] - _min[j]) / _step[j] : 0f;
            byte value = (byte)Math.Clamp(MathF.Round(level), 0f, _levels);
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

    /// <summary>The largest error a value in the trained range can have after a round trip: half a step.</summary>
    public float MaxError(int dimension) => _step[dimension] / 2;

    private void Check(int floats, int other, int otherLength)
    {
        if (floats != Dimension || other != otherLength) throw new ArgumentException($"the quantiser has {Dimension} dimensions ({otherLength} code or query bytes), given {floats} and {other}");
    }
}
