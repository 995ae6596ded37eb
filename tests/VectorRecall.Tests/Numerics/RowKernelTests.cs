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
        var (scaled, expectedScaled) = (new float[length], new float[length]);
        RowKernels.Scale(x, 1.7f, scaled);
        TensorPrimitives.Multiply(x, 1.7f, expectedScaled);
        Assert.Equal(expectedScaled, scaled);
    }

    [Fact]
    public void RowsOfDifferentLengthsAreRefused()
    {
        Assert.Throws<ArgumentException>(() => RowKernels.Add(new float[4], new float[5]));
        Assert.Throws<ArgumentException>(() => RowKernels.AddScaled(new float[4], 2f, new float[3]));
        Assert.Throws<ArgumentException>(() => RowKernels.Scale(new float[4], 2f, new float[3]));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(17)]
    [InlineData(1034)]
    public void SoftmaxMatchesADoublePrecisionReference(int length)
    {
        var rng = new Rng((ulong)length + 5);
        // Logits as a loss sees them (dot products over a temperature, shifted by −log q), a few masked, and a wide range.
        foreach (float spread in new[] { 1f, 10f, 60f })
        {
            var row = Tensor.Randn(rng, spread, length).ToArray();
            if (length > 3) { row[1] = -1e9f; row[length - 1] = -1e9f; }
            var logits = row.ToArray();
            var (max, sum) = RowKernels.Softmax(row);
            double m = logits.Max(), total = logits.Sum(v => Math.Exp(v - m));
            Assert.Equal((float)m, max);
            Assert.True(Math.Abs(sum - total) <= 1e-6 * total, $"sum {sum} vs {total}");
            for (int i = 0; i < length; i++)
            {
                // The reference exponentiates the same float difference (its rounding is the input's, not the kernel's).
                double expected = Math.Exp(logits[i] - (float)m) / total;
                // Within a few float ulps where the weight is normal; masked and far-below entries are exactly 0.
                if (logits[i] - m < -87.3) Assert.Equal(0f, row[i]);
                else Assert.True(Math.Abs(row[i] - expected) <= 4e-7 * expected + 1e-37, $"length {length} spread {spread} [{i}]: {row[i]} vs {expected}");
            }
        }
    }

    [Fact]
    public void SoftmaxRefusesAnEmptyRow() => Assert.Throws<ArgumentException>(() => RowKernels.Softmax(Span<float>.Empty));
}
