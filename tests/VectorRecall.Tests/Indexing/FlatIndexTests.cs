using VectorRecall.Indexing;
using VectorRecall.Numerics;

namespace VectorRecall.Tests.Indexing;

public class FlatIndexTests
{
    [Theory]
    [InlineData(Metric.InnerProduct)]
    [InlineData(Metric.Cosine)]
    [InlineData(Metric.L2)]
    public void EqualsScalarBruteForceOneByOneAndInBatches(Metric metric)
    {
        const int n = 1500, dim = 24, k = 7, nq = 70;
        var rng = new Rng(4);
        var data = Tensor.Randn(rng, 1f, n, dim).ToArray();
        var ids = VectorSets.Ids(n);
        var index = new FlatIndex(dim, metric);
        index.Add(ids.AsSpan(0, 1000), data.AsSpan(0, 1000 * dim));
        index.Add(ids.AsSpan(1000), data.AsSpan(1000 * dim));
        var queries = Tensor.Randn(rng, 1f, nq, dim).ToArray();
        var batchIds = new long[nq * k]; var batchScores = new float[nq * k]; var counts = new int[nq];
        index.SearchBatch(queries, k, batchIds, batchScores, counts);
        var outIds = new long[k]; var outScores = new float[k];
        for (int qi = 0; qi < nq; qi++)
        {
            var q = queries.AsSpan(qi * dim, dim);
            var exact = VectorSets.Exact(data, ids, q, metric, k);
            Assert.Equal(k, index.Search(q, k, outIds, outScores));
            Assert.Equal(exact.Select(e => e.Id), outIds);
            Assert.Equal(k, counts[qi]);
            Assert.Equal(exact.Select(e => e.Id), batchIds.AsSpan(qi * k, k).ToArray());
            for (int i = 0; i < k; i++)
            {
                double tolerance = 1e-4 * Math.Max(1, Math.Abs(exact[i].Score));
                Assert.Equal(exact[i].Score, outScores[i], tolerance);
                Assert.Equal(exact[i].Score, batchScores[qi * k + i], tolerance);
            }
        }
    }

    [Fact]
    public void KLargerThanCountReturnsWhatThereIs()
    {
        var index = new FlatIndex(3, Metric.InnerProduct);
        var ids = new long[5]; var scores = new float[5];
        Assert.Equal(0, index.Search([1, 0, 0], 5, ids, scores));
        index.Add([7, 8], [1, 0, 0, 0, 1, 0]);
        Assert.Equal(2, index.Search([1, 0, 0], 5, ids, scores));
        Assert.Equal([7L, 8L], ids[..2]);
        var bIds = new long[10]; var bScores = new float[10]; var counts = new int[2];
        index.SearchBatch([1, 0, 0, 0, 1, 0], 5, bIds, bScores, counts);
        Assert.Equal([2, 2], counts);
        Assert.Equal([8L, 7L, -1L, -1L, -1L], bIds[5..]);
        Assert.True(float.IsNaN(bScores[4]));
    }

    [Fact]
    public void RemovedItemsAreNeverReturned()
    {
        var index = new FlatIndex(2, Metric.L2);
        index.Add([1, 2, 3], [0, 0, 1, 0, 2, 0]);
        index.Remove(1);
        Assert.False(index.Contains(1));
        Assert.Equal(2, index.Count);
        var ids = new long[3]; var scores = new float[3];
        Assert.Equal(2, index.Search([0, 0], 3, ids, scores));
        Assert.Equal([2L, 3L], ids[..2]);
        Assert.Equal([1f, 4f], scores[..2]);
        Assert.Throws<KeyNotFoundException>(() => index.Remove(1));
    }

    [Fact]
    public void SaveLoadGivesIdenticalResults()
    {
        using var dir = new TempDir();
        var data = VectorSets.Clustered(800, 16, 10, 3);
        var index = new FlatIndex(16, Metric.Cosine);
        index.Add(VectorSets.Ids(800), data);
        index.Remove(1003);
        index.Save(dir.File("flat.vrix"));
        var loaded = (FlatIndex)IndexFactory.Load(dir.File("flat.vrix"));
        Assert.Equal(index.Count, loaded.Count);
        Assert.Equal(Metric.Cosine, loaded.Metric);
        var a = new long[10]; var sa = new float[10]; var b = new long[10]; var sb = new float[10];
        for (int q = 0; q < 20; q++)
        {
            index.Search(data.AsSpan(q * 16, 16), 10, a, sa);
            loaded.Search(data.AsSpan(q * 16, 16), 10, b, sb);
            Assert.Equal(a, b);
            Assert.Equal(sa, sb);
        }
    }
}
