using VectorRecall.Autograd;
using VectorRecall.Numerics;

namespace VectorRecall.Tests.Autograd;

public class AutogradTests
{
    private static readonly Rng Rng = new(1234);
    private static Tensor R(params int[] shape) => Tensor.Randn(Rng, 1f, shape);

    [Fact] public void MatMul() => GradCheck.Check(v => Ops.MatMul(v[0], v[1]), R(3, 4), R(4, 5));
    [Fact] public void MatMulTransposed() => GradCheck.Check(v => Ops.MatMul(v[0], v[1], transposeB: true), R(3, 4), R(5, 4));
    [Fact] public void Linear() => GradCheck.Check(v => Ops.Linear(v[0], v[1], v[2]), R(3, 4), R(5, 4), R(5));
    [Fact] public void LinearWithoutBias() => GradCheck.Check(v => Ops.Linear(v[0], v[1], null), R(3, 4), R(5, 4));
    [Fact] public void GroupedDot() => GradCheck.Check(v => Ops.GroupedDot(v[0], v[1]), R(3, 4), R(6, 4));
    [Fact] public void SliceRows() => GradCheck.Check(v => Ops.SliceRows(v[0], 1, 2), R(4, 3));
    [Fact] public void SliceColumns() => GradCheck.Check(v => Ops.SliceColumns(v[0], 1, 2), R(4, 5));
    [Fact] public void Reshape() => GradCheck.Check(v => Ops.Reshape(v[0], 2, 6), R(4, 3));
    [Fact] public void AddBias() => GradCheck.Check(v => Ops.AddBias(v[0], v[1]), R(3, 4), R(4));
    [Fact] public void Add() => GradCheck.Check(v => Ops.Add(v[0], v[1]), R(3, 4), R(3, 4));
    [Fact] public void Sub() => GradCheck.Check(v => Ops.Sub(v[0], v[1]), R(3, 4), R(3, 4));
    [Fact] public void Mul() => GradCheck.Check(v => Ops.Mul(v[0], v[1]), R(3, 4), R(3, 4));
    [Fact] public void Scale() => GradCheck.Check(v => Ops.Scale(v[0], -2.5f), R(3, 4));
    [Fact] public void Sum() => GradCheck.Check(v => Ops.Sum(v[0]), R(3, 4));
    [Fact] public void Mean() => GradCheck.Check(v => Ops.Mean(v[0]), R(3, 4));
    [Fact] public void Relu() => GradCheck.Check(v => Ops.Relu(v[0]), GradCheck.AwayFromZero(Rng, 0.05f, 3, 4));
    [Fact] public void PReluShared() => GradCheck.Check(v => Ops.PRelu(v[0], v[1]), GradCheck.AwayFromZero(Rng, 0.05f, 3, 4), Tensor.Full(0.25f, 1));
    [Fact] public void PReluPerColumn() => GradCheck.Check(v => Ops.PRelu(v[0], v[1]), GradCheck.AwayFromZero(Rng, 0.05f, 3, 4), R(4));
    [Fact] public void Sigmoid() => GradCheck.Check(v => Ops.Sigmoid(v[0]), R(3, 4));
    [Fact] public void Tanh() => GradCheck.Check(v => Ops.Tanh(v[0]), R(3, 4));
    [Fact] public void LogSoftmax() => GradCheck.Check(v => Ops.LogSoftmax(v[0]), R(3, 5));
    [Fact] public void CrossEntropy() => GradCheck.Check(v => Ops.CrossEntropy(v[0], [2, 0, 4]), R(3, 5));
    // Rows past a vector's width (the kernel's vector loop and its tail), and the gradient added to one already there.
    [Fact] public void CrossEntropyOnWideRows() => GradCheck.Check(v => Ops.CrossEntropy(v[0], [2, 30, 36]), R(3, 37));
    [Fact] public void CrossEntropyTwiceOnOneInput() => GradCheck.Check(v => Ops.Add(Ops.CrossEntropy(v[0], [1, 17]), Ops.CrossEntropy(v[0], [0, 3])), R(2, 19));
    [Fact] public void BinaryCrossEntropyWithLogits()
    {
        var targets = Tensor.FromArray([1, 0, 0.3f, 1, 0, 1], 2, 3);
        GradCheck.Check(v => Ops.BinaryCrossEntropyWithLogits(v[0], targets), R(2, 3));
    }
    [Fact]
    public void CosineContrastive()
    {
        // Values away from the kinks at 1 (positives) and at the margin 0.2 (negatives).
        var positive = Tensor.FromArray([0.5f, -0.3f, 0.9f], 3, 1);
        var negative = Tensor.FromArray([0.6f, -0.4f, 0.35f, 0.1f, 0.9f, -0.8f, 0.45f, 0.0f, 0.7f, 0.5f, -0.1f, 0.3f], 3, 4);
        GradCheck.Check(v => Ops.CosineContrastive(v[0], v[1], margin: 0.2f, negativeWeight: 3f), positive, negative);
    }

    [Fact]
    public void CosineContrastiveByHand()
    {
        // Row 0: (1 − 0.5) + 3/4 · ((0.6 − 0.2) + (0.35 − 0.2)) = 0.5 + 0.75 · 0.55 = 0.9125
        // Row 1: (1 − 1) + 3/4 · (0.9 − 0.2) = 0.525; its positive at 1 costs nothing and gets no gradient.
        var positive = new Variable(Tensor.FromArray([0.5f, 1f], 2, 1), requiresGrad: true);
        var negative = new Variable(Tensor.FromArray([0.6f, -0.4f, 0.35f, 0.1f, 0.9f, -0.8f, 0.2f, 0.0f], 2, 4), requiresGrad: true);
        using var tape = new Tape();
        var loss = Ops.CosineContrastive(positive, negative, margin: 0.2f, negativeWeight: 3f);
        Assert.Equal((0.9125f + 0.525f) / 2, loss.Value[0], 5);
        tape.Backward(loss);
        Assert.Equal([-0.5f, 0f], positive.Grad!.ToArray());
        // Each negative above the margin gets w / n / B = 3 / 4 / 2; one exactly at the margin does not.
        Assert.Equal([0.375f, 0, 0.375f, 0, 0.375f, 0, 0, 0], negative.Grad!.ToArray());
    }

    [Fact]
    public void SparseMatMul()
    {
        // A 3 × 4 matrix with an empty row and a repeated position (its entries add up).
        var a = SparseMatrix.FromEntries(3, 4, [0, 0, 2, 2, 2], [1, 3, 0, 3, 3], [0.5f, -1f, 2f, 0.25f, 0.5f]);
        GradCheck.Check(v => Ops.SparseMatMul(a, v[0]), R(4, 5));
    }

    [Fact]
    public void SparseMatMulMatchesDense()
    {
        var a = SparseMatrix.FromEntries(3, 4, [0, 0, 2, 2, 2], [1, 3, 0, 3, 3], [0.5f, -1f, 2f, 0.25f, 0.5f]);
        var dense = Tensor.FromArray([0, 0.5f, 0, -1f, 0, 0, 0, 0, 2f, 0, 0, 0.75f], 3, 4);
        var x = R(4, 5);
        var expected = Ops.MatMul(dense, x).Value.ToArray();
        var actual = Ops.SparseMatMul(a, x).Value.ToArray();
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 5);
        // The transpose is the dense transpose.
        var denseT = Tensor.FromArray([0, 0, 2f, 0.5f, 0, 0, 0, 0, 0, -1f, 0, 0.75f], 4, 3);
        var y = R(3, 2);
        var expectedT = Ops.MatMul(denseT, y).Value.ToArray();
        var actualT = a.Transposed.Multiply(y).ToArray();
        for (int i = 0; i < expectedT.Length; i++) Assert.Equal(expectedT[i], actualT[i], 5);
    }

    [Fact]
    public void SparseMatrixRefusesBadArrays()
    {
        Assert.Throws<ArgumentException>(() => new SparseMatrix(2, 2, [0, 1, 1], [2], [1f]));
        Assert.Throws<ArgumentException>(() => new SparseMatrix(2, 2, [0, 2, 1], [0, 1], [1f, 1f]));
        Assert.Throws<ArgumentException>(() => SparseMatrix.FromEntries(2, 2, [2], [0], [1f]));
    }

    [Fact] public void Mse() => GradCheck.Check(v => Ops.Mse(v[0], v[1]), R(3, 4), R(3, 4));

    [Fact]
    public void L1()
    {
        // |p − t| has a kink at p = t: keep every difference well away from it.
        var prediction = R(3, 4);
        var target = prediction.Clone();
        System.Numerics.Tensors.TensorPrimitives.Add(target.Span, GradCheck.AwayFromZero(Rng, 0.05f, 3, 4).Span, target.Span);
        GradCheck.Check(v => Ops.L1(v[0], v[1]), prediction, target);
    }
    [Fact] public void L2NormalizeRows() => GradCheck.Check(v => Ops.L2NormalizeRows(v[0]), 1e-3f, R(3, 4));
    [Fact] public void ConcatColumns() => GradCheck.Check(v => Ops.ConcatColumns(v[0], v[1], v[2]), R(3, 2), R(3, 4), R(3, 1));
    [Fact] public void GatherRows() => GradCheck.Check(v => Ops.GatherRows(v[0], [2, 0, 2, 3]), R(4, 3));
    [Fact] public void EmbeddingLookup() => GradCheck.Check(v => Ops.Embedding(v[0], [1, 1, 4]), R(5, 3));
    [Fact] public void EmbeddingBagSum() => GradCheck.Check(v => Ops.EmbeddingBag(v[0], [0, 2, 2, 4, 1], [0, 3, 3], BagMode.Sum), R(5, 3));
    [Fact] public void EmbeddingBagMean() => GradCheck.Check(v => Ops.EmbeddingBag(v[0], [0, 2, 2, 4, 1], [0, 3, 3], BagMode.Mean), R(5, 3));

    [Fact]
    public void BatchNormTraining() => GradCheck.Check(
        v => Ops.BatchNorm1d(v[0], v[1], v[2], Tensor.Zeros(3), Tensor.Full(1f, 3), training: true),
        R(6, 3), R(3), R(3));

    [Fact]
    public void BatchNormEval() => GradCheck.Check(
        v => Ops.BatchNorm1d(v[0], v[1], v[2], Tensor.FromArray([0.5f, -1f, 0f], 3), Tensor.FromArray([2f, 0.5f, 1f], 3), training: false),
        R(4, 3), R(3), R(3));

    [Fact]
    public void DropoutTraining() => GradCheck.Check(v => Ops.Dropout(v[0], 0.4f, training: true, new Rng(7)), R(4, 5));

    // Detach's gradient is zero by definition, not the derivative of its forward value, so it is
    // checked against exact values instead of finite differences.
    [Fact]
    public void DetachStopsGradientExactly()
    {
        var x = new Variable(Tensor.FromArray([3f], 1), requiresGrad: true);
        using var tape = new Tape();
        // y = x · stopgrad(x): dy/dx = stopgrad(x) = 3, not 2x = 6.
        var y = Ops.Sum(Ops.Mul(x, Ops.Detach(x)));
        tape.Backward(y);
        Assert.Equal(3f, x.Grad![0]);
    }

    [Fact]
    public void StraightThroughEstimatorPassesGradientUnchanged()
    {
        // q = x + stopgrad(round(x) − x): forward gives round(x), backward gives identity.
        var x = new Variable(Tensor.FromArray([0.3f, 1.7f], 2), requiresGrad: true);
        using var tape = new Tape();
        var rounded = new Variable(Tensor.FromArray([0f, 2f], 2));
        var q = Ops.Add(x, Ops.Detach(Ops.Sub(rounded, x)));
        Assert.Equal([0f, 2f], q.Value.ToArray());
        tape.Backward(Ops.Sum(Ops.Scale(q, 2f)));
        Assert.Equal([2f, 2f], x.Grad!.ToArray());
    }

    [Fact]
    public void DropoutIsIdentityInEvalAndKeepsExpectation()
    {
        var x = new Variable(Tensor.Full(1f, 200, 50));
        Assert.Same(x, Ops.Dropout(x, 0.5f, training: false, new Rng(1)));
        var y = Ops.Dropout(x, 0.5f, training: true, new Rng(1)).Value.Span;
        int zeros = 0;
        foreach (float v in y) { if (v == 0) zeros++; else Assert.Equal(2f, v); }
        Assert.InRange(zeros / (double)y.Length, 0.45, 0.55);
    }

    [Fact]
    public void BatchNormUpdatesRunningStatisticsLikePyTorch()
    {
        var x = new Variable(Tensor.FromArray([1f, 2f, 3f, 6f], 4, 1));
        var mean = Tensor.Zeros(1); var var_ = Tensor.Full(1f, 1);
        Ops.BatchNorm1d(x, new Variable(Tensor.Full(1f, 1)), new Variable(Tensor.Zeros(1)), mean, var_, training: true, momentum: 0.1f);
        // batch mean 3, unbiased variance (4+1+0+9)/3 = 14/3
        Assert.Equal(0.3f, mean[0], 5);
        Assert.Equal(0.9f + 0.1f * 14f / 3f, var_[0], 5);
    }

    [Fact]
    public void NoTapeRecordsNothing()
    {
        var w = new Parameter(Tensor.Full(1f, 2, 2));
        var y = Ops.MatMul(new Variable(Tensor.Full(1f, 1, 2)), w);
        Assert.False(y.RequiresGrad);
        using var tape = new Tape();
        var z = Tape.NoGrad(() => Ops.MatMul(new Variable(Tensor.Full(1f, 1, 2)), w));
        Assert.False(z.RequiresGrad);
        Assert.Equal(0, tape.Count);
    }

    [Fact]
    public void GradientsAccumulateAcrossBackwardCallsUntilZeroed()
    {
        var w = new Parameter(Tensor.FromArray([2f], 1));
        for (int i = 0; i < 2; i++)
        {
            using var tape = new Tape();
            tape.Backward(Ops.Sum(Ops.Mul(w, w)));
        }
        Assert.Equal(8f, w.Grad![0]);
        w.ZeroGrad();
        Assert.Equal(0f, w.Grad![0]);
    }

    [Fact]
    public void SparseParameterRecordsTouchedRows()
    {
        var table = new Parameter(Tensor.Full(1f, 6, 2), rowSparse: true);
        using (var tape = new Tape()) tape.Backward(Ops.Sum(Ops.Embedding(table, [4, 1, 4])));
        Assert.Equal([4, 1], table.TouchedRows);
        Assert.Equal([0f, 0f, 1f, 1f, 0f, 0f, 0f, 0f, 2f, 2f, 0f, 0f], table.Grad!.ToArray());
        table.ZeroGrad();
        Assert.Empty(table.TouchedRows);
        Assert.All(table.Grad!.ToArray(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void ShapeMismatchesAreReported()
    {
        var ex = Assert.Throws<ArgumentException>(() => Ops.MatMul(new Variable(Tensor.Zeros(2, 3)), new Variable(Tensor.Zeros(4, 2))));
        Assert.Contains("2x3", ex.Message);
        Assert.Throws<ArgumentException>(() => Ops.Add(new Variable(Tensor.Zeros(2, 3)), new Variable(Tensor.Zeros(3, 2))));
        Assert.Throws<ArgumentOutOfRangeException>(() => Ops.CrossEntropy(new Variable(Tensor.Zeros(2, 3)), [0, 3]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Ops.Embedding(new Variable(Tensor.Zeros(2, 3)), [2]));
    }

    [Fact]
    public void CrossEntropyMatchesADoublePrecisionReferenceWithMaskedLogits()
    {
        // A sequence model's row: wide, with masked items at −1e9 that must get exactly zero weight and gradient.
        var rng = new Rng(5);
        int rows = 4, cols = 1037;
        var x = Tensor.Randn(rng, 3f, rows, cols);
        for (int r = 0; r < rows; r++) for (int j = r; j < cols; j += 7) x[r, j] = -1e9f;
        int[] targets = [1, 2, 3, 1036];
        var logits = new Variable(x, requiresGrad: true);
        Variable loss;
        using (var tape = new Tape())
        {
            loss = Ops.CrossEntropy(logits, targets);
            tape.Backward(loss);
        }
        double expectedLoss = 0;
        for (int r = 0; r < rows; r++)
        {
            double max = double.NegativeInfinity, sum = 0;
            for (int j = 0; j < cols; j++) max = Math.Max(max, x[r, j]);
            for (int j = 0; j < cols; j++) sum += Math.Exp(x[r, j] - max);
            expectedLoss += max + Math.Log(sum) - x[r, targets[r]];
            for (int j = 0; j < cols; j++)
            {
                double expectedGrad = (Math.Exp(x[r, j] - max) / sum - (j == targets[r] ? 1 : 0)) / rows;
                if (x[r, j] < -1e8f) Assert.Equal(0f, logits.Grad![r, j]);
                else Assert.Equal(expectedGrad, logits.Grad![r, j], 1e-6);
            }
        }
        Assert.Equal(expectedLoss / rows, loss.Value[0], 1e-4);
    }

    [Fact]
    public void CrossEntropyIsStableForHugeLogits()
    {
        var logits = new Variable(Tensor.FromArray([1000f, 0f, -1000f], 1, 3));
        Assert.Equal(0f, Ops.CrossEntropy(logits, [0]).Value[0], 5);
        Assert.Equal(1000f, Ops.CrossEntropy(logits, [1]).Value[0], 2);
    }
}
