using VectorRecall.Numerics;

namespace VectorRecall.Indexing;

/// <summary>
/// 8-bit scalar quantisation (faiss's <c>SQ8</c>): each dimension's range [min, max], trained on the data, is cut
/// into 255 equal steps and a vector is stored as one byte per dimension. A query is compared with codes without
/// decoding them: q·x̂ = Σ qⱼ·minⱼ + Σ (qⱼ·stepⱼ)·codeⱼ, a constant and, with qⱼ·stepⱼ itself rounded to a byte,
/// an integer dot product of bytes. Values outside the trained range are clamped to it.
/// </summary>
public sealed class ScalarQuantizer
{
    private readonly float[] _min, _step;

    /// <summary>A quantiser with these per-dimension minima and steps (each step ≥ 0).</summary>
    public ScalarQuantizer(float[] min, float[] step)
    {
        if (min.Length != step.Length || min.Length == 0) throw new ArgumentException($"{min.Length} minima and {step.Length} steps: one of each per dimension");
        for (int j = 0; j < min.Length; j++)
            if (!float.IsFinite(min[j]) || !float.IsFinite(step[j]) || step[j] < 0) throw new ArgumentException($"dimension {j}: min {min[j]}, step {step[j]} (finite, step ≥ 0)");
        _min = min;
        _step = step;
    }

    public int Dimension => _min.Length;
    public ReadOnlySpan<float> Min => _min;
    public ReadOnlySpan<float> Step => _step;

    /// <summary>The ranges of <paramref name="vectors"/> (rows of <paramref name="dimension"/> floats), each cut into 255 steps.</summary>
    public static ScalarQuantizer Train(ReadOnlySpan<float> vectors, int dimension)
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
        for (int j = 0; j < dimension; j++) step[j] = (max[j] - min[j]) / 255f;
        return new ScalarQuantizer(min, step);
    }

    /// <summary>The code of <paramref name="x"/>: each value's nearest step, clamped to the trained range.</summary>
    public void Encode(ReadOnlySpan<float> x, Span<byte> code)
    {
        Check(x.Length, code.Length);
        for (int j = 0; j < x.Length; j++)
        {
            float level = _step[j] > 0 ? (x[j] - _min[j]) / _step[j] : 0f;
            code[j] = (byte)Math.Clamp(MathF.Round(level), 0f, 255f);
        }
    }

    /// <summary>The vector a code stands for.</summary>
    public void Decode(ReadOnlySpan<byte> code, Span<float> x)
    {
        Check(x.Length, code.Length);
        for (int j = 0; j < x.Length; j++) x[j] = _min[j] + _step[j] * code[j];
    }

    /// <summary>The largest magnitude of a quantised query value (<see cref="Prepare"/>): two products of a code and it fit in 16 bits.</summary>
    public const int QueryLevels = 64;

    /// <summary>
    /// Quantises the query for comparison with codes: qⱼ·stepⱼ, rounded to integers in [−<see cref="QueryLevels"/>,
    /// <see cref="QueryLevels"/>] on a common scale, into <paramref name="quantised"/>. Returns (offset, scale) such that
    /// q·x̂ ≈ offset + scale·Σ quantisedⱼ·codeⱼ (<see cref="Distances.DotBytes"/>); the rounding costs at most scale/2 per
    /// dimension and code unit, which the exact re-ranking of the final candidates removes.
    /// </summary>
    public (float Offset, float Scale) Prepare(ReadOnlySpan<float> query, Span<sbyte> quantised)
    {
        Check(query.Length, quantised.Length);
        float largest = 0;
        for (int j = 0; j < query.Length; j++) largest = MathF.Max(largest, MathF.Abs(query[j] * _step[j]));
        float scale = largest / QueryLevels;
        for (int j = 0; j < query.Length; j++)
            quantised[j] = scale > 0 ? (sbyte)Math.Clamp(MathF.Round(query[j] * _step[j] / scale), -QueryLevels, QueryLevels) : (sbyte)0;
        return (TensorPrimitives.Dot(query, _min), scale);
    }

    /// <summary>The largest error a value in the trained range can have after a round trip: half a step.</summary>
    public float MaxError(int dimension) => _step[dimension] / 2;

    private void Check(int floats, int other)
    {
        if (floats != Dimension || other != Dimension) throw new ArgumentException($"the quantiser has {Dimension} dimensions, given {floats} and {other}");
    }
}
