using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using VectorRecall.Numerics;

namespace VectorRecall.Tests.Numerics;

public class RowKernelTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(33)]
    [InlineData(128)]
    public void KernelsGiveTensorPrimitivesResultsBitForBit(int length)
    {
        var rng = new Rng((ulong)length + 1);
        var x = Tensor.Randn(rng, 1f, Math.Max(1, length)).Span[..length].ToArray();
        var y = Tensor.Randn(rng, 1f, Math.Max(1, length)).Span[..length].ToArray();
        var (sum, expectedSum) = (y.ToArray(), new float[length]);
        RowKernels.Add(x, sum);
        TensorPrimitives.Add(y, x, expectedSum);
        Assert.Equal(expectedSum, sum);
        var (axpy, expectedAxpy) = (y.ToArray(), new float[length]);
        RowKernels.AddScaled(x, -0.37f, axpy);
        TensorPrimitives.MultiplyAdd(x, -0.37f, y, expectedAxpy);
        Assert.Equal(expectedAxpy, axpy);
    }

    [Fact]
    public void RowsOfDifferentLengthsAreRefused()
    {
        Assert.Throws<ArgumentException>(() => RowKernels.Add(new float[4], new float[5]));
        Assert.Throws<ArgumentException>(() => RowKernels.AddScaled(new float[4], 2f, new float[3]));
    }
}
