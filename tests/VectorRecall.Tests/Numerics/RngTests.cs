using VectorRecall.Numerics;

namespace VectorRecall.Tests.Numerics;

public class RngTests
{
    [Fact]
    public void SameSeedSameStreamAndDifferentSeedsDiffer()
    {
        var a = new Rng(42); var b = new Rng(42); var c = new Rng(43);
        var xs = Enumerable.Range(0, 100).Select(_ => a.NextUInt64()).ToArray();
        Assert.Equal(xs, Enumerable.Range(0, 100).Select(_ => b.NextUInt64()));
        Assert.NotEqual(xs, Enumerable.Range(0, 100).Select(_ => c.NextUInt64()));
    }

    [Fact]
    public void DistributionsHaveTheRightMoments()
    {
        var rng = new Rng(5);
        var counts = new int[7];
        for (int i = 0; i < 70000; i++) counts[rng.NextInt(7)]++;
        Assert.All(counts, n => Assert.InRange(n, 9400, 10600));
        double sum = 0, sumSq = 0;
        const int n = 200000;
        for (int i = 0; i < n; i++) { double x = rng.NextNormal(); sum += x; sumSq += x * x; }
        Assert.InRange(sum / n, -0.01, 0.01);
        Assert.InRange(sumSq / n, 0.98, 1.02);
        for (int i = 0; i < 1000; i++) Assert.InRange(rng.NextFloat(), 0f, 0.99999995f);
    }

    [Fact]
    public void ShuffleIsAPermutation()
    {
        var values = Enumerable.Range(0, 100).ToArray();
        new Rng(3).Shuffle(values.AsSpan());
        Assert.NotEqual(Enumerable.Range(0, 100), values);
        Assert.Equal(Enumerable.Range(0, 100), values.Order());
    }
}
