using VectorRecall.Indexing;
using VectorRecall.IO;
using VectorRecall.Numerics;

namespace VectorRecall.Tests;

internal static class VectorSets
{
    /// <summary>
    /// Points around <paramref name="clusters"/> random centres (N(0, <paramref name="centreScale"/>²) per
    /// coordinate), unit-norm as ann_anchor.py makes them, or left as drawn (norms varying by cluster and point).
    /// </summary>
    public static float[] Clustered(int n, int dim, int clusters, ulong seed, float spread = 1f, bool normalise = true, float centreScale = 1f)
    {
        var rng = new Rng(seed);
        var centres = Tensor.Randn(rng, centreScale, clusters, dim);
        var data = new float[n * dim];
        for (int i = 0; i < n; i++)
        {
            var c = centres.Row(rng.NextInt(clusters));
            var row = data.AsSpan(i * dim, dim);
            for (int j = 0; j < dim; j++) row[j] = c[j] + spread * (float)rng.NextNormal();
            if (!normalise) continue;
            float norm = MathF.Sqrt(System.Numerics.Tensors.TensorPrimitives.Dot(row, row));
            System.Numerics.Tensors.TensorPrimitives.Divide(row, norm, row);
        }
        return data;
    }

    public static long[] Ids(int n, long offset = 1000) => Enumerable.Range(0, n).Select(i => offset + 3L * i).ToArray();

    /// <summary>Brute force in double precision, best first, ties to the lower id.</summary>
    public static (long Id, double Score)[] Exact(float[] data, long[] ids, ReadOnlySpan<float> query, Metric metric, int k)
    {
        int dim = query.Length;
        var q = query.ToArray().Select(v => (double)v).ToArray();
        if (metric == Metric.Cosine) { double qn = Math.Sqrt(q.Sum(v => v * v)); q = q.Select(v => qn > 0 ? v / qn : 0).ToArray(); }
        var all = new List<(long, double)>();
        for (int i = 0; i < ids.Length; i++)
        {
            var x = data.AsSpan(i * dim, dim).ToArray().Select(v => (double)v).ToArray();
            if (metric == Metric.Cosine) { double xn = Math.Sqrt(x.Sum(v => v * v)); x = x.Select(v => xn > 0 ? v / xn : 0).ToArray(); }
            double s = metric == Metric.L2 ? x.Zip(q, (a, b) => (a - b) * (a - b)).Sum() : x.Zip(q, (a, b) => a * b).Sum();
            all.Add((ids[i], s));
        }
        all.Sort((a, b) => metric == Metric.L2 ? a.Item2.CompareTo(b.Item2) : b.Item2.CompareTo(a.Item2));
        return all.Take(k).ToArray();
    }
}

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
