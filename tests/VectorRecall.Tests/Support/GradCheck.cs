using VectorRecall.Autograd;
using VectorRecall.Numerics;

namespace VectorRecall.Tests;

/// <summary>Compares the tape's gradients with central finite differences of loss = Σ f(x) ⊙ w for a fixed random w.</summary>
internal static class GradCheck
{
    public static void Check(Func<Variable[], Variable> f, params Tensor[] inputs) => Check(f, 5e-3f, inputs);

    public static void Check(Func<Variable[], Variable> f, float eps, params Tensor[] inputs)
    {
        var vars = inputs.Select(t => new Variable(t, requiresGrad: true)).ToArray();
        Tensor weights;
        using (var tape = new Tape())
        {
            var y = f(vars);
            weights = Tensor.Randn(new Rng(99), 1f, y.Shape.ToArray());
            var loss = Ops.Sum(Ops.Mul(y, new Variable(weights)));
            tape.Backward(loss);
        }
        for (int v = 0; v < inputs.Length; v++)
        {
            var x = inputs[v].Span;
            var grad = vars[v].Grad;
            for (int i = 0; i < x.Length; i++)
            {
                float saved = x[i];
                x[i] = saved + eps; double plus = Objective(f, inputs, weights);
                x[i] = saved - eps; double minus = Objective(f, inputs, weights);
                x[i] = saved;
                double numeric = (plus - minus) / (2 * eps);
                double analytic = grad is null ? 0 : grad.Span[i];
                double tolerance = 5e-3 + 2e-2 * Math.Max(Math.Abs(numeric), Math.Abs(analytic));
                Assert.True(Math.Abs(numeric - analytic) <= tolerance,
                    $"input {v} element {i}: analytic {analytic:G6}, numeric {numeric:G6}");
            }
        }
    }

    private static double Objective(Func<Variable[], Variable> f, Tensor[] inputs, Tensor weights)
    {
        var y = f(inputs.Select(t => new Variable(t)).ToArray()).Value.Span;
        var w = weights.Span;
        double sum = 0;
        for (int i = 0; i < y.Length; i++) sum += (double)y[i] * w[i];
        return sum;
    }

    /// <summary>Random values kept at least <paramref name="margin"/> away from zero (for kinks at 0).</summary>
    public static Tensor AwayFromZero(Rng rng, float margin, params int[] shape)
    {
        var t = Tensor.Randn(rng, 1f, shape);
        var s = t.Span;
        for (int i = 0; i < s.Length; i++) s[i] = MathF.CopySign(MathF.Abs(s[i]) + margin, s[i]);
        return t;
    }
}
