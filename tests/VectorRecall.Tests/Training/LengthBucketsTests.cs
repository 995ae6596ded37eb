using VectorRecall.Numerics;
using VectorRecall.Training;

namespace VectorRecall.Tests.Training;

public class LengthBucketsTests
{
    /// <summary>Skewed lengths, as real histories are: most short, a few at the window.</summary>
    private static int LengthOf(int i) => i % 10 == 0 ? 50 : 2 + i % 7;

    private static int[] Shuffled(int n, Rng rng)
    {
        var order = Enumerable.Range(0, n).ToArray();
        rng.Shuffle(order.AsSpan());
        return order;
    }

    [Fact]
    public void KeepsEveryExampleOnceAndTheLastPartialBatchLast()
    {
        var order = Shuffled(1000, new Rng(4));
        var tail = order[^(1000 % 64)..];
        LengthBuckets.Arrange(order, LengthOf, 64, new Rng(5));
        Assert.Equal(Enumerable.Range(0, 1000), order.Order());
        Assert.Equal(tail, order[^(1000 % 64)..]);
    }

    [Fact]
    public void BatchesPadToFarLessThanAShuffleDoes()
    {
        static long Padded(int[] order, int batch) =>
            order.Chunk(batch).Sum(b => (long)b.Length * b.Max(LengthOf));
        var shuffled = Shuffled(20_000, new Rng(4));
        var arranged = (int[])shuffled.Clone();
        LengthBuckets.Arrange(arranged, LengthOf, 128, new Rng(5));
        long real = Enumerable.Range(0, 20_000).Sum(i => (long)LengthOf(i));
        Assert.True(Padded(shuffled, 128) > 5 * real, "a random batch of 128 should almost always hold a 50");
        Assert.True(Padded(arranged, 128) < 1.3 * real, $"arranged batches pad {Padded(arranged, 128)} positions for {real} real ones");
    }

    [Fact]
    public void TheSameGeneratorGivesTheSameArrangement()
    {
        var a = Shuffled(3000, new Rng(1));
        var b = (int[])a.Clone();
        LengthBuckets.Arrange(a, LengthOf, 100, new Rng(2));
        LengthBuckets.Arrange(b, LengthOf, 100, new Rng(2));
        Assert.Equal(a, b);
    }
}
