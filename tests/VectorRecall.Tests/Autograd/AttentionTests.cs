using VectorRecall.Autograd;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using VectorRecall.Numerics;

namespace VectorRecall.Tests.Autograd;

/// <summary>The sequence encoder's ops: gradient checks, and the masks' guarantees.</summary>
public class AttentionTests
{
    private static readonly Rng Rng = new(4321);
    private static Tensor R(params int[] shape) => Tensor.Randn(Rng, 1f, shape);

    [Fact] public void LayerNorm() => GradCheck.Check(v => Ops.LayerNorm(v[0], v[1], v[2]), R(4, 6), R(6), R(6));
    [Fact] public void Gelu() => GradCheck.Check(v => Ops.Gelu(v[0]), R(3, 5));
    [Fact] public void GeluOnValuesFarFromZero() => GradCheck.Check(v => Ops.Gelu(v[0]), Tensor.Randn(new Rng(8), 4f, 4, 9));

    [Fact]
    public void GeluMatchesItsDefinitionToSinglePrecision()
    {
        // The vector path's tanh against the scalar formula, across the range where tanh bends and saturates.
        var x = new float[1001];
        for (int i = 0; i < x.Length; i++) x[i] = -10f + 0.02f * i;
        var y = new float[x.Length];
        TransformerKernels.Gelu(x, y);
        for (int i = 0; i < x.Length; i++)
        {
            double v = x[i], expected = 0.5 * v * (1 + Math.Tanh(0.7978845608 * (v + 0.044715 * v * v * v)));
            Assert.True(Math.Abs(y[i] - expected) <= 1e-6 * (1 + Math.Abs(expected)), $"GELU({v}) = {y[i]}, expected {expected}");
        }
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    [InlineData(false, true)]
    public void Attention(bool causal, bool padded)
    {
        // Two sequences of four positions, two heads of width 3; the second sequence left-padded by 1, the first by 2.
        int[]? padding = padded ? [2, 1] : null;
        GradCheck.Check(v => Ops.Attention(v[0], v[1], v[2], 2, 4, 2, causal, padding), R(8, 6), R(8, 6), R(8, 6));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void PackedAttention(bool causal) =>
        // Sequences of 3, 1 and 4 positions packed into 8 rows, two heads of width 3.
        GradCheck.Check(v => Ops.Attention(v[0], v[1], v[2], SequenceShape.Packed([3, 1, 4]), 2, causal), R(8, 6), R(8, 6), R(8, 6));

    [Fact]
    public void PackedSequencesAttendAsEachDoesAlone()
    {
        var (q, k, v) = (R(9, 6), R(9, 6), R(9, 6));
        var packed = Ops.Attention(new Variable(q), new Variable(k), new Variable(v), SequenceShape.Packed([2, 5, 2]), 3, causal: true).Value;
        foreach (var (start, count) in new[] { (0, 2), (2, 5), (7, 2) })
        {
            Variable Part(Tensor x) => new(x.RowRange(start, count).Clone());
            var alone = Ops.Attention(Part(q), Part(k), Part(v), 1, count, 3, causal: true).Value;
            for (int t = 0; t < count; t++) Assert.Equal(alone.Row(t).ToArray(), packed.Row(start + t).ToArray());
        }
        Assert.Throws<ArgumentException>(() => SequenceShape.Packed([2, 0]));
        Assert.Throws<ArgumentException>(() => Ops.Attention(new Variable(q), new Variable(k), new Variable(v), SequenceShape.Packed([2, 5]), 3, causal: true));
    }

    [Fact]
    public void LayerNormRowsHaveZeroMeanAndUnitVariance()
    {
        var x = new Variable(Tensor.Randn(Rng, 3f, 5, 16));
        var y = Ops.LayerNorm(x, new Variable(Tensor.Full(1f, 16)), new Variable(new Tensor(16))).Value;
        for (int r = 0; r < 5; r++)
        {
            Assert.Equal(0f, TensorPrimitives.Sum(y.Row(r)) / 16, 4);
            Assert.Equal(1f, TensorPrimitives.Dot(y.Row(r), y.Row(r)) / 16, 3);
        }
    }

    [Fact]
    public void ChangingALaterItemNeverChangesAnEarlierPosition()
    {
        var (q, k, v) = (R(6, 8), R(6, 8), R(6, 8));
        var before = Ops.Attention(new Variable(q), new Variable(k), new Variable(v), 1, 6, 2, causal: true).Value.Clone();
        foreach (var t in new[] { k, v, q }) for (int j = 0; j < 8; j++) t[4, j] += 5f;
        var after = Ops.Attention(new Variable(q), new Variable(k), new Variable(v), 1, 6, 2, causal: true).Value;
        for (int t = 0; t < 4; t++) Assert.Equal(before.Row(t).ToArray(), after.Row(t).ToArray());
        Assert.NotEqual(before.Row(4).ToArray(), after.Row(4).ToArray());
    }

    [Fact]
    public void LeftPaddingChangesNothing()
    {
        // One sequence of 4 positions, and the same sequence left-padded to 7 with arbitrary values in the padding.
        var (q, k, v) = (R(4, 6), R(4, 6), R(4, 6));
        Tensor Padded(Tensor x)
        {
            var p = R(7, 6);
            x.Span.CopyTo(p.RowRange(3, 4).Span);
            return p;
        }
        var plain = Ops.Attention(new Variable(q), new Variable(k), new Variable(v), 1, 4, 3, causal: true).Value;
        var padded = Ops.Attention(new Variable(Padded(q)), new Variable(Padded(k)), new Variable(Padded(v)), 1, 7, 3, causal: true, leftPadding: [3]).Value;
        for (int t = 0; t < 4; t++)
            for (int j = 0; j < 6; j++) Assert.Equal(plain[t, j], padded[3 + t, j], 5);
        for (int t = 0; t < 3; t++) Assert.All(padded.Row(t).ToArray(), x => Assert.Equal(0f, x));  // padding rows attend to nothing
    }

    [Fact]
    public void BadShapesAreRefused()
    {
        var x = new Variable(R(6, 8));
        Assert.Throws<ArgumentException>(() => Ops.Attention(x, x, x, 2, 4, 2, causal: true));
        Assert.Throws<ArgumentException>(() => Ops.Attention(x, x, x, 1, 6, 3, causal: true));
        Assert.Throws<ArgumentException>(() => Ops.Attention(x, x, x, 1, 6, 2, causal: true, leftPadding: [7]));
        Assert.Throws<ArgumentException>(() => Ops.LayerNorm(x, new Variable(R(7)), new Variable(R(8))));
    }
}
