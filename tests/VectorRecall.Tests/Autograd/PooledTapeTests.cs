using VectorRecall.Autograd;
using VectorRecall.Nn;
using VectorRecall.Numerics;

namespace VectorRecall.Tests.Autograd;

/// <summary>The pooled tape and the multi-core paths of the ops must give what the plain, one-core paths give.</summary>
public class PooledTapeTests
{
    /// <summary>A two-layer MLP with batch norm, ReLU and L2 normalisation on a batch big enough for the multi-core paths.</summary>
    private static (float Loss, float[][] Grads) Run(bool pooled, int rows)
    {
        var rng = new Rng(5);
        var net = Mlp.Build([64, 192, 32], rng, new MlpOptions { BatchNorm = true, Activation = Activation.Relu });
        var x = new Variable(Tensor.Randn(new Rng(9), 1f, rows, 64), requiresGrad: true);
        float loss;
        for (int step = 0; step < 3; step++)  // later steps reuse pooled arrays
        {
            net.ZeroGrad();
            x.ZeroGrad();
            using var tape = new Tape(pooled);
            var y = Ops.L2NormalizeRows(net.Forward(x));
            var l = Ops.Mean(Ops.Mul(y, y.Value.Clone()));
            tape.Backward(l);
            loss = l.Value[0];
            if (step == 2) return (loss, [.. net.Parameters().Select(p => p.Grad!.ToArray()), x.Grad!.ToArray()]);
        }
        throw new InvalidOperationException();
    }

    [Fact]
    public void InferenceTapeRecordsNothingAndMatchesNoGrad()
    {
        var net = Mlp.Build([64, 192, 32], new Rng(5), new MlpOptions { BatchNorm = true, Activation = Activation.Relu });
        net.Eval();
        var x = Tensor.Randn(new Rng(9), 1f, 600, 64);
        var expected = Tape.NoGrad(() => Ops.L2NormalizeRows(net.Forward(x)).Value.ToArray());
        for (int round = 0; round < 3; round++)  // later rounds reuse the pooled arrays
        {
            using var tape = Tape.Inference();
            var y = Ops.L2NormalizeRows(net.Forward(x));
            Assert.False(y.RequiresGrad);
            Assert.Null(y.BackwardFn);
            Assert.Equal(0, tape.Count);
            Assert.Equal(expected, y.Value.ToArray());
        }
    }

    [Fact]
    public void PooledTapeGivesTheSameGradientsAsAPlainOne()
    {
        var plain = Run(pooled: false, rows: 600);
        var pooled = Run(pooled: true, rows: 600);
        Assert.Equal(plain.Loss, pooled.Loss);
        Assert.Equal(plain.Grads.Length, pooled.Grads.Length);
        for (int i = 0; i < plain.Grads.Length; i++) Assert.Equal(plain.Grads[i], pooled.Grads[i]);
    }

    [Fact]
    public void BatchNormOnManyRowsMatchesADoublePrecisionReference()
    {
        int n = 700, d = 130;  // over the multi-core threshold
        var x = Tensor.Randn(new Rng(3), 2f, n, d);
        for (int i = 0; i < x.Length; i++) x.Span[i] += 5f;  // a mean far from zero
        var y = Ops.BatchNorm1d(x, Tensor.Full(1f, d), Tensor.Zeros(d), Tensor.Zeros(d), Tensor.Full(1f, d), training: true).Value;
        for (int j = 0; j < d; j++)
        {
            double mean = 0, var = 0;
            for (int r = 0; r < n; r++) mean += x[r, j];
            mean /= n;
            for (int r = 0; r < n; r++) var += (x[r, j] - mean) * (x[r, j] - mean);
            double inv = 1 / Math.Sqrt(var / n + 1e-5);
            for (int r = 0; r < n; r += 37) Assert.InRange(y[r, j], (x[r, j] - mean) * inv - 1e-3, (x[r, j] - mean) * inv + 1e-3);
        }
    }

    [Fact]
    public void DropoutMaskDependsOnTheSeedAndKeepsTheRate()
    {
        var x = new Variable(Tensor.Full(1f, 400, 300));
        var a = Ops.Dropout(x, 0.25f, training: true, new Rng(11)).Value.ToArray();
        var b = Ops.Dropout(x, 0.25f, training: true, new Rng(11)).Value.ToArray();
        Assert.Equal(a, b);
        double dropped = a.Count(v => v == 0) / (double)a.Length;
        Assert.InRange(dropped, 0.24, 0.26);
        Assert.All(a, v => Assert.True(v == 0 || Math.Abs(v - 1 / 0.75f) < 1e-6));
    }

    [Fact]
    public void SizeClassesHoldTheirLengthWasteAtMostAQuarterAndAreFew()
    {
        var classes = new HashSet<int>();
        for (int length = 1; length <= 100_000; length++)
        {
            int size = TensorPool.SizeClass(length);
            Assert.True(size >= length && size <= length + length / 4 + 1, $"{length} elements got an array of {size}");
            classes.Add(size);
        }
        Assert.True(classes.Count < 80, $"{classes.Count} size classes up to 100,000");
    }

    [Fact]
    public void StepsOfVaryingShapeReuseTheSameArrays()
    {
        var rng = new Rng(3);
        var w = new Variable(Tensor.Randn(rng, 1f, 16, 16), requiresGrad: true);
        var seen = new HashSet<float[]>(ReferenceEqualityComparer.Instance);
        for (int step = 0; step < 40; step++)
        {
            int rows = 90 + step;  // a different shape every step, as sequence batches have: exact-length pooling would keep 40 arrays of each kind
            using var tape = new Tape(pooled: true);
            var y = Ops.MatMul(new Variable(Tensor.Randn(rng, 1f, rows, 16)), w);
            var loss = Ops.Mean(Ops.Mul(y, y));
            tape.Backward(loss);
            seen.Add(y.Value.Data);
            w.ZeroGrad();
        }
        Assert.True(seen.Count <= 12, $"40 steps of 90 .. 129 rows used {seen.Count} distinct output arrays");
    }
}
