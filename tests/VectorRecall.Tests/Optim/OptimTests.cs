using VectorRecall.Autograd;
using VectorRecall.Numerics;
using VectorRecall.Optim;

namespace VectorRecall.Tests.Optim;

public class OptimTests
{
    /// <summary>Runs two steps on w = 1 with gradients 0.5 then −1 and returns w after each.</summary>
    private static (float, float) TwoSteps(Func<Parameter, Optimizer> make)
    {
        var w = new Parameter(Tensor.FromArray([1f], 1));
        var opt = make(w);
        var results = new float[2];
        float[] grads = [0.5f, -1f];
        for (int s = 0; s < 2; s++)
        {
            opt.ZeroGrad();
            using (var tape = new Tape()) tape.Backward(Ops.Sum(Ops.Scale(w, grads[s])));
            opt.Step();
            results[s] = w.Value[0];
        }
        return (results[0], results[1]);
    }

    [Fact]
    public void SgdWithMomentumByHand()
    {
        // v1 = 0.5, w1 = 1 − 0.1·0.5; v2 = 0.9·0.5 − 1 = −0.55, w2 = 0.95 + 0.055
        var (w1, w2) = TwoSteps(p => new Sgd([p], 0.1, momentum: 0.9));
        Assert.Equal(0.95f, w1, 6);
        Assert.Equal(1.005f, w2, 6);
    }

    [Fact]
    public void AdamByHand()
    {
        // step 1: m̂ = 0.5, v̂ = 0.25, w = 1 − 0.1·0.5/0.5 = 0.9
        // step 2: m = −0.055, v = 0.00124975, m̂ = −0.28947, v̂ = 0.62519, w = 0.9 + 0.1·0.28947/0.79069
        var (w1, w2) = TwoSteps(p => new Adam([p], 0.1));
        Assert.Equal(0.9f, w1, 5);
        Assert.Equal(0.93661035f, w2, 5);
    }

    [Fact]
    public void AdamWDecaysWeightsApartFromTheGradient()
    {
        // step 1: w = 1 − 0.1·0.1·1 = 0.99, then − 0.1 → 0.89
        var (w1, w2) = TwoSteps(p => new AdamW([p], 0.1, weightDecay: 0.1));
        Assert.Equal(0.89f, w1, 5);
        Assert.Equal(0.91771035f, w2, 5);
    }

    [Fact]
    public void AdagradByHand()
    {
        // Σg² = 0.25 → w = 1 − 0.1·0.5/0.5 = 0.9; Σg² = 1.25 → w = 0.9 + 0.1/√1.25
        var (w1, w2) = TwoSteps(p => new Adagrad([p], 0.1));
        Assert.Equal(0.9f, w1, 5);
        Assert.Equal(0.98944272f, w2, 5);
    }

    [Fact]
    public void SparseAndDenseAdamAgreeOnTouchedRowsAndSparseLeavesOthersAlone()
    {
        var init = Tensor.Randn(new Rng(3), 1f, 6, 4);
        var dense = new Parameter(init.Clone());
        var sparse = new Parameter(init.Clone(), rowSparse: true);
        var denseOpt = new Adam([dense], 0.05);
        var sparseOpt = new Adam([sparse], 0.05);
        int[] ids = [1, 4, 4];
        var target = Tensor.Randn(new Rng(4), 1f, 3, 4);
        for (int step = 0; step < 5; step++)
        {
            foreach (var (p, opt) in new[] { (dense, (Optimizer)denseOpt), (sparse, sparseOpt) })
            {
                opt.ZeroGrad();
                using var tape = new Tape();
                tape.Backward(Ops.Mse(Ops.Embedding(p, ids), new Variable(target)));
                opt.Step();
            }
        }
        foreach (int r in new[] { 1, 4 })
            for (int j = 0; j < 4; j++) Assert.Equal(dense.Value[r, j], sparse.Value[r, j], 6);
        foreach (int r in new[] { 0, 2, 3, 5 })
            Assert.Equal(init.Row(r).ToArray(), sparse.Value.Row(r).ToArray());
    }

    [Fact]
    public void StepAndZeroGradEqualsStepThenZeroGrad()
    {
        // A table of 3,000 rows, so the row-sparse update splits across cores and prefetches ahead; a dense matrix beside it.
        var tableInit = Tensor.Randn(new Rng(5), 1f, 3000, 32);
        var denseInit = Tensor.Randn(new Rng(6), 1f, 32, 8);
        var rng = new Rng(7);
        var steps = Enumerable.Range(0, 3).Select(_ => Enumerable.Range(0, 2500).Select(_ => rng.NextInt(3000)).ToArray()).ToArray();
        Parameter[] Run(bool fused)
        {
            var table = new Parameter(tableInit.Clone(), rowSparse: true);
            var dense = new Parameter(denseInit.Clone());
            var opt = new AdamW([table, dense], 0.05);
            foreach (var ids in steps)
            {
                using (var tape = new Tape()) tape.Backward(Ops.Sum(Ops.MatMul(Ops.Embedding(table, ids), dense)));
                if (fused) opt.StepAndZeroGrad();
                else { opt.Step(); opt.ZeroGrad(); }
                Assert.Empty(table.TouchedRows);
                Assert.All(table.Grad!.ToArray(), g => Assert.Equal(0f, g));
                Assert.All(dense.Grad!.ToArray(), g => Assert.Equal(0f, g));
            }
            return [table, dense];
        }
        var (separate, fusedRun) = (Run(false), Run(true));
        for (int i = 0; i < 2; i++) Assert.Equal(separate[i].Value.ToArray(), fusedRun[i].Value.ToArray());
    }

    [Fact]
    public void ClipByGlobalNormScalesAllGradients()
    {
        var a = new Parameter(Tensor.FromArray([1f, 1f], 2));
        var b = new Parameter(Tensor.FromArray([1f], 1));
        using (var tape = new Tape()) tape.Backward(Ops.Add(Ops.Sum(Ops.Scale(a, 3f)), Ops.Sum(Ops.Scale(b, 4f))));
        // gradients (3, 3) and (4): norm √34
        double norm = GradientClipping.ClipByGlobalNorm([a, b], 1.0);
        Assert.Equal(Math.Sqrt(34), norm, 5);
        double after = Math.Sqrt(a.Grad!.Span.ToArray().Sum(v => v * v) + b.Grad![0] * b.Grad![0]);
        Assert.Equal(1.0, after, 4);
        Assert.Equal(3f / 4f, a.Grad![0] / b.Grad![0], 5);
    }

    [Fact]
    public void SchedulesWarmUpThenFollowTheirShape()
    {
        var constant = new LrSchedule(ScheduleKind.Constant, 1.0, totalSteps: 110, warmupSteps: 10);
        var linear = new LrSchedule(ScheduleKind.Linear, 1.0, totalSteps: 110, warmupSteps: 10);
        var cosine = new LrSchedule(ScheduleKind.Cosine, 1.0, totalSteps: 110, warmupSteps: 10);
        foreach (var s in new[] { constant, linear, cosine })
        {
            Assert.Equal(0.1, s.At(0), 9);
            Assert.Equal(0.5, s.At(4), 9);
            Assert.Equal(1.0, s.At(10), 9);
        }
        Assert.Equal(1.0, constant.At(100), 9);
        Assert.Equal(0.5, linear.At(60), 9);
        Assert.Equal(0.0, linear.At(110), 9);
        Assert.Equal(0.5, cosine.At(60), 9);
        Assert.Equal(0.0, cosine.At(110), 9);
        Assert.Equal(0.5 * (1 + Math.Cos(Math.PI * 0.25)), cosine.At(35), 9);
        Assert.Throws<ArgumentOutOfRangeException>(() => new LrSchedule(ScheduleKind.Cosine, 1.0, 10, warmupSteps: 11));
    }
}
