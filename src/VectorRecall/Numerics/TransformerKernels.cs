namespace VectorRecall.Numerics;

/// <summary>
/// The per-row arithmetic of a transformer layer, on spans: the autograd ops' forward passes and the
/// sequence encoder's allocation-free inference both call these, so the two compute the same numbers.
/// </summary>
internal static class TransformerKernels
{
    private const float GeluC = 0.7978845608f;  // √(2/π)

    /// <summary>GELU, tanh form (BERT's and SASRec implementations'): x/2 · (1 + tanh(√(2/π)(x + 0.044715x³))).</summary>
    public static void Gelu(ReadOnlySpan<float> x, Span<float> y)
    {
        for (int i = 0; i < x.Length; i++)
        {
            float v = x[i];
            y[i] = 0.5f * v * (1f + MathF.Tanh(GeluC * (v + 0.044715f * v * v * v)));
        }
    }

    /// <summary>GELU's derivative at <paramref name="v"/>.</summary>
    public static float GeluDerivative(float v)
    {
        float t = MathF.Tanh(GeluC * (v + 0.044715f * v * v * v));
        float dt = (1f - t * t) * GeluC * (1f + 3f * 0.044715f * v * v);
        return 0.5f * (1f + t) + 0.5f * v * dt;
    }

    /// <summary>
    /// One row's layer norm: <paramref name="xhat"/> = (x − mean) / √(var + ε) with the biased variance,
    /// <paramref name="y"/> = x̂ · γ + β; returns 1 / √(var + ε). <paramref name="xhat"/> may be <paramref name="y"/>.
    /// </summary>
    public static float LayerNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, float eps, Span<float> xhat, Span<float> y)
    {
        int d = x.Length;
        float mean = TensorPrimitives.Sum(x) / d;
        TensorPrimitives.Subtract(x, mean, xhat);
        float inv = 1f / MathF.Sqrt(TensorPrimitives.Dot(xhat, xhat) / d + eps);
        TensorPrimitives.Multiply(xhat, inv, xhat);
        TensorPrimitives.MultiplyAdd(xhat, gamma, beta, y);
        return inv;
    }

    /// <summary>
    /// One query's attention over <paramref name="count"/> keys: key j is <c>keys[j·stride ..][..dh]</c> and value j
    /// <c>values[j·stride ..][..dh]</c> (dh = the query's width); <paramref name="weights"/> (count long) gets the
    /// softmax of scale · q·k over the keys, taken after subtracting the largest, and <paramref name="output"/> Σ w·v.
    /// </summary>
    public static void Attend(ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, int stride, int count, float scale,
        Span<float> weights, Span<float> output)
    {
        int dh = query.Length;
        for (int j = 0; j < count; j++) weights[j] = scale * TensorPrimitives.Dot(query, keys.Slice(j * stride, dh));
        var live = weights[..count];
        float max = TensorPrimitives.Max(live);
        TensorPrimitives.Subtract(live, max, live);
        TensorPrimitives.Exp(live, live);
        TensorPrimitives.Divide(live, TensorPrimitives.Sum(live), live);
        output.Clear();
        for (int j = 0; j < count; j++) TensorPrimitives.MultiplyAdd(values.Slice(j * stride, dh), live[j], output, output);
    }
}
