using VectorRecall.Autograd;
using VectorRecall.Nn;
using VectorRecall.Numerics;
using VectorRecall.Optim;

namespace VectorRecall.Tests.Nn;

public class NnTests
{
    [Fact]
    public void ParametersAreFoundFromTheModuleTreeWithDottedNames()
    {
        var net = Mlp.Build([4, 8, 2], new Rng(1), new MlpOptions { BatchNorm = true, Dropout = 0.1f });
        var names = net.NamedParameters().Select(p => p.Name).ToArray();
        Assert.Equal(["0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias"], names);
        Assert.Equal(["1.running_mean", "1.running_var"], net.NamedBuffers().Select(b => b.Name));
        Assert.Equal(4 * 8 + 8 + 8 + 8 + 8 * 2 + 2, net.ParameterCount);
    }

    [Fact]
    public void TrainAndEvalReachEveryModule()
    {
        var net = Mlp.Build([4, 8, 2], new Rng(1), new MlpOptions { BatchNorm = true, Dropout = 0.5f });
        net.Eval();
        Assert.All(net.Layers, l => Assert.False(l.Training));
        var x = new Variable(Tensor.Randn(new Rng(2), 1f, 3, 4));
        Assert.Equal(net.Forward(x).Value.ToArray(), net.Forward(x).Value.ToArray());
        net.Train();
        Assert.All(net.Layers, l => Assert.True(l.Training));
    }

    [Fact]
    public void LinearComputesXWTransposedPlusBias()
    {
        var lin = new Linear(2, 3, new Rng(1));
        lin.Weight.Value.CopyFrom(Tensor.FromArray([1, 2, 3, 4, 5, 6], 3, 2));
        lin.Bias!.Value.CopyFrom(Tensor.FromArray([0.5f, 0, -1], 3));
        var y = lin.Forward(new Variable(Tensor.FromArray([1, 1, 2, 0], 2, 2)));
        Assert.Equal([3.5f, 7f, 10f, 2.5f, 6f, 9f], y.Value.ToArray());
        Assert.Throws<ArgumentException>(() => lin.Forward(new Variable(Tensor.Zeros(2, 3))));
    }

    [Fact]
    public void InitialisersHaveTheRightScale()
    {
        var w = Tensor.Zeros(400, 600);
        Init.XavierUniform(w, new Rng(1));
        float bound = MathF.Sqrt(6f / 1000f);
        Assert.All(w.ToArray(), v => Assert.InRange(v, -bound, bound));
        Init.KaimingNormal(w, new Rng(2));
        double var_ = w.ToArray().Select(v => (double)v * v).Average();
        Assert.InRange(var_, 2.0 / 600 * 0.95, 2.0 / 600 * 1.05);
        Init.XavierNormal(w, new Rng(3));
        var_ = w.ToArray().Select(v => (double)v * v).Average();
        Assert.InRange(var_, 2.0 / 1000 * 0.95, 2.0 / 1000 * 1.05);
    }

    [Fact]
    public void LoadStateDictRejectsWrongShapesAndNamesAndChangesNothing()
    {
        var net = Mlp.Build([3, 4, 2], new Rng(1));
        var before = net.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.ToArray());
        var bad = net.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.Clone());
        bad["0.bias"] = Tensor.Full(9f, 4);
        bad["2.weight"] = Tensor.Zeros(3, 4);
        var ex = Assert.Throws<InvalidDataException>(() => net.LoadStateDict(bad));
        Assert.Contains("2.weight", ex.Message);
        Assert.Equal(before["0.bias"], net.StateDict()["0.bias"].ToArray());
        var missing = net.StateDict().Where(kv => kv.Key != "2.bias").ToDictionary();
        Assert.Contains("2.bias", Assert.Throws<InvalidDataException>(() => net.LoadStateDict(missing)).Message);
    }

    private static float TrainXor(ulong seed, out float[] weights)
    {
        var rng = new Rng(seed);
        var net = Mlp.Build([2, 16, 1], rng, new MlpOptions { Activation = Activation.Tanh });
        var opt = new Adam(net.Parameters(), 0.05);
        var x = new Variable(Tensor.FromArray([0, 0, 0, 1, 1, 0, 1, 1], 4, 2));
        var y = Tensor.FromArray([0, 1, 1, 0], 4, 1);
        float loss = 0;
        for (int step = 0; step < 500; step++)
        {
            opt.ZeroGrad();
            using var tape = new Tape();
            var l = Ops.BinaryCrossEntropyWithLogits(net.Forward(x), y);
            tape.Backward(l);
            opt.Step();
            loss = l.Value[0];
        }
        weights = net.Parameters().SelectMany(p => p.Value.ToArray()).ToArray();
        return loss;
    }

    [Fact]
    public void MlpLearnsXorAndTheSameSeedGivesTheSameWeights()
    {
        float loss = TrainXor(7, out var w1);
        Assert.True(loss < 0.01f, $"XOR loss {loss}");
        TrainXor(7, out var w2);
        Assert.Equal(w1, w2);
    }

    [Fact]
    public void MlpFitsASmallRegression()
    {
        var rng = new Rng(21);
        var x = Tensor.Uniform(rng, -1, 1, 128, 3);
        var y = new Tensor(128, 1);
        for (int i = 0; i < 128; i++) y[i, 0] = MathF.Sin(2 * x[i, 0]) + x[i, 1] * x[i, 2];
        var net = Mlp.Build([3, 32, 32, 1], rng, new MlpOptions { Activation = Activation.Relu });
        var opt = new AdamW(net.Parameters(), 0.01, weightDecay: 0);
        var schedule = new LrSchedule(ScheduleKind.Cosine, 0.01, totalSteps: 1500, warmupSteps: 50);
        float loss = 0;
        for (int step = 0; step < 1500; step++)
        {
            schedule.Apply(opt, step);
            opt.ZeroGrad();
            using var tape = new Tape();
            var l = Ops.Mse(net.Forward(new Variable(x)), new Variable(y));
            tape.Backward(l);
            opt.Step();
            loss = l.Value[0];
        }
        Assert.True(loss < 2e-3f, $"regression loss {loss}");
    }

    [Fact]
    public void EmbeddingBagPoolsBags()
    {
        var bag = new EmbeddingBag(4, 2, BagMode.Mean, new Rng(1));
        bag.Weight.Value.CopyFrom(Tensor.FromArray([0, 0, 2, 4, 4, 8, 1, 1], 4, 2));
        var y = bag.Forward([1, 2, 3], [0, 2, 2]);
        Assert.Equal([3f, 6f, 0f, 0f, 1f, 1f], y.Value.ToArray());
        Assert.Throws<ArgumentException>(() => bag.Forward([1, 2], [0, 3]));
    }
}
