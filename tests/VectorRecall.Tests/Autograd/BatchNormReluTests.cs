using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using VectorRecall.Autograd;
using VectorRecall.Nn;
using VectorRecall.Numerics;

namespace VectorRecall.Tests.Autograd;

/// <summary>The fused BatchNorm → ReLU → Dropout op against finite differences and against the three ops it replaces.</summary>
public class BatchNormReluTests
{
    /// <summary>
    /// Inputs whose normalised values stay at least 0.1 from ReLU's kink (a finite difference across it measures
    /// neither side's slope): columns of 6 rows spread evenly, shuffled, with β = 0.
    /// </summary>
    private static Tensor[] KinkFreeInputs(int rows = 6, int cols = 3)
    {
        var rng = new Rng(5);
        var x = new Tensor(rows, cols);
        for (int c = 0; c < cols; c++)
        {
            var column = Enumerable.Range(0, rows).Select(r => (r - (rows - 1) / 2f) * (1 + c)).ToArray();
            rng.Shuffle(column.AsSpan());
            for (int r = 0; r < rows; r++) x[r, c] = column[r] + 0.3f * c;
        }
        return [x, Tensor.FromArray(Enumerable.Range(0, cols).Select(c => 0.5f + 0.25f * c).ToArray(), cols), Tensor.Zeros(cols)];
    }

    [Fact]
    public void GradientInTrainingWithDropout() => GradCheck.Check(
        v => Ops.BatchNormRelu(v[0], v[1], v[2], Tensor.Zeros(3), Tensor.Full(1f, 3), training: true, dropout: 0.4f, new Rng(7)),
        KinkFreeInputs());

    [Fact]
    public void GradientInTrainingWithoutDropout() => GradCheck.Check(
        v => Ops.BatchNormRelu(v[0], v[1], v[2], Tensor.Zeros(3), Tensor.Full(1f, 3), training: true, dropout: 0f, rng: null),
        KinkFreeInputs());

    [Fact]
    public void GradientInEvaluation() => GradCheck.Check(
        v => Ops.BatchNormRelu(v[0], v[1], v[2], Tensor.FromArray([0.2f, -0.3f, 0.1f], 3), Tensor.FromArray([2f, 0.5f, 1f], 3), training: false, dropout: 0.4f, new Rng(7)),
        KinkFreeInputs());

    [Theory]
    [InlineData(true, 0.3f)]
    [InlineData(true, 0f)]
    [InlineData(false, 0.3f)]
    public void MatchesBatchNormThenReluThenDropout(bool training, float p)
    {
        // 1000 × 70: rows wider than one SIMD vector with a remainder, and more elements than one dropout block.
        var data = Tensor.Randn(new Rng(11), 2f, 1000, 70);
        TensorPrimitives.Add(data.Span, 0.7f, data.Span);
        var (fused, fusedGrads, fusedStats) = Run(data, training, p, (x, g, b, m, v) => Ops.BatchNormRelu(x, g, b, m, v, training, p, new Rng(3)));
        var (plain, plainGrads, plainStats) = Run(data, training, p, (x, g, b, m, v) =>
            Ops.Dropout(Ops.Relu(Ops.BatchNorm1d(x, g, b, m, v, training)), p, training, new Rng(3)));
        AssertClose(plain, fused, "output");
        for (int i = 0; i < plainGrads.Length; i++) AssertClose(plainGrads[i], fusedGrads[i], $"gradient {i}");
        for (int i = 0; i < plainStats.Length; i++) AssertClose(plainStats[i], fusedStats[i], $"running statistic {i}");
    }

    [Theory]
    [InlineData(0.3f)]
    [InlineData(0f)]
    public void TakesTheBatchStatisticsFromTheLinearLayersGemm(float p)
    {
        // 1000 × 70 through Linear(70, 96): the moments come from the GEMM's tiles (rows split over threads) instead of a pass.
        var data = Tensor.Randn(new Rng(12), 2f, 1000, 70);
        var weight = new Variable(Tensor.Randn(new Rng(13), 0.2f, 96, 70), requiresGrad: true);
        var bias = new Variable(Tensor.Randn(new Rng(14), 3f, 96), requiresGrad: true);
        var (fused, fusedGrads, fusedStats) = Run(data, true, p, (x, g, b, m, v) =>
            Ops.BatchNormRelu(Ops.Linear(x, weight, bias, columnMoments: true), g, b, m, v, training: true, p, new Rng(3)), cols: 96);
        var (plain, plainGrads, plainStats) = Run(data, true, p, (x, g, b, m, v) =>
            Ops.BatchNormRelu(Ops.Linear(x, weight, bias), g, b, m, v, training: true, p, new Rng(3)), cols: 96);
        AssertClose(plain, fused, "output");
        for (int i = 0; i < plainGrads.Length; i++) AssertClose(plainGrads[i], fusedGrads[i], $"gradient {i}");
        for (int i = 0; i < plainStats.Length; i++) AssertClose(plainStats[i], fusedStats[i], $"running statistic {i}");
    }

    [Fact]
    public void SequentialFusesTheHiddenBlockWithoutChangingTheModel()
    {
        var mlp = Mlp.Build([8, 16, 4], new Rng(2), new MlpOptions { BatchNorm = true, Dropout = 0.25f });
        var twin = Mlp.Build([8, 16, 4], new Rng(2), new MlpOptions { BatchNorm = true, Dropout = 0.25f });
        Assert.Equal(mlp.StateDict().Keys.Order(), twin.StateDict().Keys.Order());
        var input = Tensor.Randn(new Rng(4), 1f, 32, 8);
        var fused = mlp.Forward(new Variable(input)).Value;
        // Layer by layer, as before the fusion: the same draws from each Dropout's generator.
        var x = new Variable(input);
        foreach (var layer in twin.Layers) x = layer.Forward(x);
        AssertClose(x.Value, fused, "training output");
        mlp.Eval(); twin.Eval();
        var evalFused = mlp.Forward(new Variable(input)).Value;
        x = new Variable(input);
        foreach (var layer in twin.Layers) x = layer.Forward(x);
        AssertClose(x.Value, evalFused, "evaluation output");
        // A dropout switched to training on its own still drops, as it would as a layer of its own.
        var dropout = mlp.Layers.OfType<Dropout>().Single();
        dropout.Train();
        var mixed = mlp.Forward(new Variable(input)).Value;
        Assert.Contains(Enumerable.Range(0, mixed.Length), i => mixed.Span[i] != evalFused.Span[i]);
    }

    private static (Tensor Output, Tensor[] Grads, Tensor[] Stats) Run(Tensor data, bool training, float p,
        Func<Variable, Variable, Variable, Tensor, Tensor, Variable> op, int cols = 0)
    {
        // The batch norm's width: the data's, or what an op in front of it makes of them.
        int d = cols > 0 ? cols : data.Cols;
        var x = new Variable(data.Clone(), requiresGrad: true);
        var gamma = new Variable(Tensor.Randn(new Rng(8), 0.5f, d), requiresGrad: true);
        TensorPrimitives.Add(gamma.Value.Span, 1f, gamma.Value.Span);
        var beta = new Variable(Tensor.Randn(new Rng(9), 0.5f, d), requiresGrad: true);
        var mean = Tensor.Full(0.1f, d); var variance = Tensor.Full(1.5f, d);
        using var tape = new Tape();
        var y = op(x, gamma, beta, mean, variance);
        var weights = Tensor.Randn(new Rng(10), 1f, data.Rows, d);
        tape.Backward(Ops.Sum(Ops.Mul(y, new Variable(weights))));
        return (y.Value.Clone(), [x.Grad!, gamma.Grad!, beta.Grad!], [mean, variance]);
    }

    private static void AssertClose(Tensor expected, Tensor actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        float scale = Math.Abs(TensorPrimitives.MaxMagnitude(expected.Span));
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected.Span[i] - actual.Span[i]) <= 2e-5f * scale + 1e-5f, $"{what}[{i}]: {expected.Span[i]} against {actual.Span[i]}");
    }
}
