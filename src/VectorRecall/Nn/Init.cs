using VectorRecall.Numerics;

namespace VectorRecall.Nn;

/// <summary>Weight initialisers (<c>torch.nn.init</c>). Fan-in/fan-out are taken from a [out × in] weight.</summary>
internal static class Init
{
    public static void Normal(Tensor t, Rng rng, float mean = 0f, float std = 1f) => rng.FillNormal(t.Span, mean, std);

    public static void Uniform(Tensor t, Rng rng, float low, float high) => rng.FillUniform(t.Span, low, high);

    public static void Constant(Tensor t, float value) => t.Span.Fill(value);

    public static void XavierUniform(Tensor weight, Rng rng, float gain = 1f)
    {
        var (fanIn, fanOut) = Fans(weight);
        float bound = gain * MathF.Sqrt(6f / (fanIn + fanOut));
        Uniform(weight, rng, -bound, bound);
    }

    public static void XavierNormal(Tensor weight, Rng rng, float gain = 1f)
    {
        var (fanIn, fanOut) = Fans(weight);
        Normal(weight, rng, 0f, gain * MathF.Sqrt(2f / (fanIn + fanOut)));
    }

    /// <summary>He initialisation for ReLU networks (fan-in mode).</summary>
    public static void KaimingUniform(Tensor weight, Rng rng, float gain = 1.41421356f)
    {
        float bound = gain * MathF.Sqrt(3f / Fans(weight).FanIn);
        Uniform(weight, rng, -bound, bound);
    }

    public static void KaimingNormal(Tensor weight, Rng rng, float gain = 1.41421356f) =>
        Normal(weight, rng, 0f, gain / MathF.Sqrt(Fans(weight).FanIn));

    private static (int FanIn, int FanOut) Fans(Tensor weight) =>
        weight.Rank >= 2 ? (weight.Cols, weight.Rows) : (weight.Length, weight.Length);
}
