using VectorRecall.Numerics;

namespace VectorRecall.Tests.Numerics;

public class TopKTests
{
    [Theory]
    [InlineData(1000, 1)]
    [InlineData(1000, 10)]
    [InlineData(5000, 1000)]
    [InlineData(50, 100)]
    [InlineData(10, 0)]
    public void MatchesAFullSortWithTiesBrokenByLowerId(int n, int k)
    {
        var rng = new Rng((ulong)(n + k));
        // Few distinct values, so there are many ties.
        var scores = Enumerable.Range(0, n).Select(_ => (float)rng.NextInt(20)).ToArray();
        var ids = new long[k]; var top = new float[k];
        int count = TopK.Select(scores, k, ids, top);
        var expected = TopK.SelectReference(scores, k);
        Assert.Equal(expected.Length, count);
        Assert.Equal(expected.Select(e => e.Id), ids.Take(count));
        Assert.Equal(expected.Select(e => e.Score), top.Take(count));
    }

    [Fact]
    public void OrderOfArrivalDoesNotMatter()
    {
        var ids = new long[3]; var scores = new float[3];
        var heap = new TopK(3, ids, scores);
        foreach (var (id, s) in new (long, float)[] { (9, 1f), (5, 2f), (7, 2f), (3, 1f), (1, 0.5f), (2, 2f) }) heap.Push(id, s);
        Assert.Equal(3, heap.SortBestFirst());
        Assert.Equal([2L, 5L, 7L], ids);
    }

    [Fact]
    public void NaNIsNeverSelected()
    {
        var ids = new long[2]; var top = new float[2];
        int count = TopK.Select([float.NaN, 1f, float.NaN, 0f], 2, ids, top);
        Assert.Equal(2, count);
        Assert.Equal([1L, 3L], ids);
    }
}
