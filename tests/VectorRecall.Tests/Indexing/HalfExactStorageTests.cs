using VectorRecall.Indexing;

namespace VectorRecall.Tests.Indexing;

/// <summary>
/// 8- or 4-bit codes with the exact vectors that build the graph and re-rank kept in half precision
/// (<see cref="HnswOptions.RefineStorage"/> FP16): half the memory of float32 ones, and the same ranking up to near-ties.
/// </summary>
public class HalfExactStorageTests
{
    private static HnswOptions Options(VectorStorage storage, VectorStorage refineStorage, int m = 16, int efc = 100) =>
        new() { M = m, EfConstruction = efc, EfSearch = 100, Storage = storage, RefineStorage = refineStorage };

    public static TheoryData<Metric, VectorStorage> Cases()
    {
        var rows = new TheoryData<Metric, VectorStorage>();
        foreach (var metric in new[] { Metric.InnerProduct, Metric.L2, Metric.Cosine })
            foreach (var storage in new[] { VectorStorage.SQ8, VectorStorage.SQ4 })
                rows.Add(metric, storage);
        return rows;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void RecallMatchesFloatExactVectorsAndScoresAreNearlyExact(Metric metric, VectorStorage storage)
    {
        const int n = 10000, dim = 32, nq = 200, k = 10;
        var data = VectorSets.Clustered(n, dim, 100, 11, normalise: metric != Metric.Cosine);
        var queries = VectorSets.Clustered(nq, dim, 100, 12, normalise: metric != Metric.Cosine);
        var ids = VectorSets.Ids(n);
        using var halves = new HnswIndex(dim, metric, Options(storage, VectorStorage.FP16));
        using var floats = new HnswIndex(dim, metric, Options(storage, VectorStorage.Float32));
        halves.Add(ids, data);
        floats.Add(ids, data);
        var flat = new FlatIndex(dim, metric);
        flat.Add(ids, data);
        int hitsHalves = 0, hitsFloats = 0;
        double worstScoreError = 0;
        var a = new long[k]; var sa = new float[k]; var b = new long[k]; var sb = new float[k]; var e = new long[k]; var se = new float[k];
        for (int q = 0; q < nq; q++)
        {
            var query = queries.AsSpan(q * dim, dim);
            int na = halves.Search(query, k, a, sa);
            int nb = floats.Search(query, k, b, sb);
            flat.Search(query, k, e, se);
            hitsHalves += a.Take(na).Intersect(e).Count();
            hitsFloats += b.Take(nb).Intersect(e).Count();
            for (int i = 1; i < na; i++) Assert.True(metric == Metric.L2 ? sa[i] >= sa[i - 1] : sa[i] <= sa[i - 1], "results in score order");
            for (int i = 0; i < na; i++)
            {
                int j = Array.IndexOf(e, a[i]);
                if (j >= 0) worstScoreError = Math.Max(worstScoreError, Math.Abs(se[j] - sa[i]) / Math.Max(1.0, Math.Abs(se[j])));
            }
        }
        double recallHalves = hitsHalves / (double)(nq * k), recallFloats = hitsFloats / (double)(nq * k);
        Assert.True(recallHalves >= 0.9, $"recall@10 {recallHalves:F3}");
        Assert.True(recallHalves >= recallFloats - 0.01, $"recall@10 {recallHalves:F3} with half-precision exact vectors against {recallFloats:F3} with float32 ones");
        // Half precision keeps 11 significant bits: a score is off by about 2⁻¹¹ of its size, not by a code step (0.02).
        Assert.True(worstScoreError < 2e-3, $"relative score error {worstScoreError:F5}");
        Assert.Equal(floats.BytesPerVector - 2 * dim, halves.BytesPerVector, 3);
    }

    [Fact]
    public void AWideEnoughSearchReturnsEveryItem()
    {
        const int n = 3000, dim = 16;
        var data = VectorSets.Clustered(n, dim, 10, 21, spread: 0.3f, normalise: false, centreScale: 0.7f);
        foreach (var metric in new[] { Metric.InnerProduct, Metric.L2, Metric.Cosine })
        {
            using var index = new HnswIndex(dim, metric, Options(VectorStorage.SQ8, VectorStorage.FP16, efc: 200));
            index.Add(VectorSets.Ids(n), data);
            var ids = new long[n];
            int found = index.Search(data.AsSpan(0, dim), n, ids, new float[n], new SearchOptions { Ef = 100_000 });
            Assert.Equal(n, ids.Take(found).Distinct().Count());
        }
    }

    [Fact]
    public void SaveLoadKeepsTheSettingAndGivesIdenticalResults()
    {
        using var dir = new TempDir();
        const int dim = 16, n = 3000;
        var data = VectorSets.Clustered(n, dim, 30, 41);
        using var index = new HnswIndex(dim, Metric.Cosine, Options(VectorStorage.SQ8, VectorStorage.FP16, m: 12, efc: 80));
        index.Add(VectorSets.Ids(n), data);
        string path = dir.File("h.vrix");
        index.Save(path);
        using var loaded = HnswIndex.Load(path);
        Assert.Equal(VectorStorage.FP16, loaded.Options.RefineStorage);
        Assert.Equal(index.BytesPerVector, loaded.BytesPerVector, 3);
        var a = new long[20]; var sa = new float[20]; var b = new long[20]; var sb = new float[20];
        for (int q = 0; q < 50; q++)
        {
            var query = data.AsSpan(q * 7 * dim, dim);
            Assert.Equal(index.Search(query, 20, a, sa), loaded.Search(query, 20, b, sb));
            Assert.Equal(a, b);
            Assert.Equal(sa, sb);
        }
        // Adding after the load writes the new item's half-precision vector like the others.
        const long added = 10_000_000;
        loaded.Add([added], data.AsSpan(0, dim));
        int found = loaded.Search(data.AsSpan(0, dim), 2, a, sa);
        Assert.Contains(added, a.Take(found));
    }

    [Theory]
    [InlineData(VectorStorage.Float32, null)]
    [InlineData(VectorStorage.FP16, null)]
    [InlineData(VectorStorage.RaBitQ, null)]
    [InlineData(VectorStorage.SQ8, 0)]
    public void RefusesHalfPrecisionExactVectorsWhereNoCodesAreRefined(VectorStorage storage, int? refine)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new HnswIndex(8, Metric.L2, new HnswOptions { Storage = storage, Refine = refine, RefineStorage = VectorStorage.FP16 }));
        Assert.Contains("refine storage FP16 needs SQ8 or SQ4", ex.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new HnswIndex(8, Metric.L2, new HnswOptions { Storage = VectorStorage.SQ8, RefineStorage = VectorStorage.SQ4 }));
    }

    [Fact]
    public void TheFactoryAndItsErrorsNameTheSetting()
    {
        var index = (HnswIndex)IndexFactory.Create("HNSW8,SQ8,refine=3,refine_storage=fp16", 8, Metric.L2);
        Assert.Equal(VectorStorage.FP16, index.Options.RefineStorage);
        Assert.Equal(3, index.Refine);
        index.Dispose();
        Assert.Contains("refine storage", Assert.Throws<ArgumentException>(() => IndexFactory.Create("HNSW8,SQ8,refine_storage=SQ4", 8, Metric.L2)).Message);
    }
}
