using VectorRecall.Indexing;
using VectorRecall.Numerics;

namespace VectorRecall.Tests.Indexing;

public class IndexInputTests
{
    public static IEnumerable<object[]> Indexes()
    {
        yield return ["Flat"];
        yield return ["HNSW8,efc=40"];
    }

    [Theory]
    [MemberData(nameof(Indexes))]
    public void BadInputGetsClearErrors(string description)
    {
        var index = IndexFactory.Create(description, 4, Metric.InnerProduct);
        var ids = new long[3]; var scores = new float[3];
        Assert.Equal(0, index.Search([1, 2, 3, 4], 3, ids, scores));
        Assert.Contains("got 3", Assert.Throws<ArgumentException>(() => index.Add([1], [1, 2, 3])).Message);
        Assert.Contains("NaN", Assert.Throws<ArgumentException>(() => index.Add([1], [1, float.NaN, 3, 4])).Message);
        Assert.Contains("Infinity", Assert.Throws<ArgumentException>(() => index.Add([1, 2], [1, 2, 3, 4, 1, 2, float.PositiveInfinity, 4])).Message);
        Assert.Equal(0, index.Count);
        index.Add([1, 2], [1, 0, 0, 0, 0, 1, 0, 0]);
        Assert.Contains("already", Assert.Throws<ArgumentException>(() => index.Add([2], [1, 1, 1, 1])).Message);
        Assert.Contains("twice", Assert.Throws<ArgumentException>(() => index.Add([5, 5], new float[8])).Message);
        Assert.Contains("dimension 3", Assert.Throws<ArgumentException>(() => index.Search([1, 2, 3], 1, ids, scores)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => index.Search([1, 2, 3, 4], 0, ids, scores));
        Assert.Contains("NaN", Assert.Throws<ArgumentException>(() => index.Search([1, float.NaN, 3, 4], 1, ids, scores)).Message);
        Assert.Throws<KeyNotFoundException>(() => index.Remove(99));
        Assert.Equal(2, index.Search([1, 0, 0, 0], 3, ids, scores));
        Assert.Equal(1L, ids[0]);
    }

    [Fact]
    public void FactoryParsesDescriptions()
    {
        Assert.IsType<FlatIndex>(IndexFactory.Create("Flat", 8, Metric.L2));
        var h = Assert.IsType<HnswIndex>(IndexFactory.Create("HNSW32,efc=100,efs=50,seed=3", 8, Metric.Cosine));
        Assert.Equal(32, h.M);
        Assert.Equal(100, h.Options.EfConstruction);
        Assert.Equal(50, h.EfSearch);
        Assert.Equal(16, Assert.IsType<HnswIndex>(IndexFactory.Create("hnsw", 8, Metric.L2)).M);
        Assert.Throws<ArgumentException>(() => IndexFactory.Create("IVF100", 8, Metric.L2));
        Assert.Throws<ArgumentException>(() => IndexFactory.Create("HNSW,bogus=1", 8, Metric.L2));
        Assert.Throws<ArgumentException>(() => IndexFactory.Create("HNSWx", 8, Metric.L2));
        Assert.Equal(Metric.Cosine, MetricExtensions.Parse("cosine"));
        Assert.Throws<ArgumentException>(() => MetricExtensions.Parse("hamming"));
    }
}
