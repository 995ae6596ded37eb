using VectorRecall.Indexing;

namespace VectorRecall.Tests.Indexing;

/// <summary>
/// Compact storage with refine 0: no exact vectors are kept, the graph is built and searched on the codes (or halves)
/// alone, and their order and scores are the answer.
/// </summary>
public class CodesOnlyStorageTests
{
    private static HnswOptions CodesOnly(VectorStorage storage, int m = 16, int efc = 100) =>
        new() { M = m, EfConstruction = efc, EfSearch = 100, Storage = storage, Refine = 0 };

    public static TheoryData<Metric, VectorStorage> Cases() =>
        StorageCases.ByMetric([Metric.InnerProduct, Metric.L2, Metric.Cosine], compactOnly: true);

    [Theory]
    [MemberData(nameof(Cases))]
    public void RecallAgainstExactSearchStaysHighAndScoresAreTheCodesOwn(Metric metric, VectorStorage storage)
    {
        const int n = 10000, dim = 32;
        var data = VectorSets.Clustered(n, dim, 100, 11);
        var queries = VectorSets.Clustered(200, dim, 100, 12);
        var ids = VectorSets.Ids(n);
        using var hnsw = new HnswIndex(dim, metric, CodesOnly(storage));
        hnsw.Add(ids, data);
        var flat = new FlatIndex(dim, metric);
        flat.Add(ids, data);
        int hits = 0;
        double worstScoreError = 0;
        var a = new long[10]; var sa = new float[10]; var e = new long[10]; var se = new float[10];
        for (int q = 0; q < 200; q++)
        {
            var query = queries.AsSpan(q * dim, dim);
            int na = hnsw.Search(query, 10, a, sa);
            flat.Search(query, 10, e, se);
            hits += a.Take(na).Intersect(e).Count();
            for (int i = 1; i < na; i++) Assert.True(metric == Metric.L2 ? sa[i] >= sa[i - 1] : sa[i] <= sa[i - 1], "results in score order");
            // A returned item's score is its code's: close to, not equal to, its exact score.
            for (int i = 0; i < na; i++)
            {
                int j = Array.IndexOf(e, a[i]);
                if (j >= 0) worstScoreError = Math.Max(worstScoreError, Math.Abs(se[j] - sa[i]));
            }
        }
        double recall = hits / 2000.0;
        // SQ4 keeps 15 steps per dimension: its order is the coarsest, which is what refine > 0 is for.
        Assert.True(recall >= (storage == VectorStorage.SQ4 ? 0.70 : 0.93), $"recall@10 {recall:F3}");
        // The worst score is an item with a coordinate in a tail its range clamps: SQ4's fitted ranges trade that case (here 0.18
        // against 0.13 with [min, max] ranges) for codes that are closer everywhere else (recall 0.79–0.81 against 0.76).
        Assert.True(worstScoreError < (storage == VectorStorage.SQ4 ? 0.25 : 0.02), $"score error {worstScoreError:F4}");
        Assert.Equal(n, hnsw.Count);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void AWideEnoughSearchReturnsEveryItem(Metric metric, VectorStorage storage)
    {
        const int n = 3000, dim = 16;
        var data = VectorSets.Clustered(n, dim, 10, 21, spread: 0.3f, normalise: false, centreScale: 0.7f);
        using var index = new HnswIndex(dim, metric, CodesOnly(storage, efc: 200));
        index.Add(VectorSets.Ids(n), data);
        var ids = new long[n];
        int found = index.Search(data.AsSpan(0, dim), n, ids, new float[n], new SearchOptions { Ef = 100_000 });
        Assert.Equal(n, ids.Take(found).Distinct().Count());
    }

    [Theory]
    [MemberData(nameof(StorageCases.CompactKinds), MemberType = typeof(StorageCases))]
    public void NoExactVectorsAreKeptAndSaveLoadGivesIdenticalResults(VectorStorage storage)
    {
        using var dir = new TempDir();
        const int dim = 16, n = 3000;
        var data = VectorSets.Clustered(n, dim, 30, 41);
        using var codesOnly = new HnswIndex(dim, Metric.Cosine, CodesOnly(storage, m: 12, efc: 80));
        using var refined = new HnswIndex(dim, Metric.Cosine, CodesOnly(storage, m: 12, efc: 80) with { Refine = 2 });
        codesOnly.Add(VectorSets.Ids(n), data);
        refined.Add(VectorSets.Ids(n), data);
        Assert.Equal(refined.BytesPerVector - 4 * dim, codesOnly.BytesPerVector, 3);
        codesOnly.Save(dir.File("c.vrix"));
        refined.Save(dir.File("r.vrix"));
        Assert.True(new FileInfo(dir.File("r.vrix")).Length - new FileInfo(dir.File("c.vrix")).Length >= (long)n * 4 * dim);

        using var loaded = Assert.IsType<HnswIndex>(IndexFactory.Load(dir.File("c.vrix")));
        Assert.Equal(0, loaded.Refine);
        Assert.Equal(storage, loaded.Options.Storage);
        Assert.Equal(codesOnly.BytesPerVector, loaded.BytesPerVector, 3);
        var a = new long[10]; var sa = new float[10]; var b = new long[10]; var sb = new float[10];
        for (int q = 0; q < 100; q++)
        {
            codesOnly.Search(data.AsSpan(q * dim, dim), 10, a, sa);
            loaded.Search(data.AsSpan(q * dim, dim), 10, b, sb);
            Assert.Equal(a, b);
            Assert.Equal(sa, sb);
        }
        // The loaded index takes more items, built from codes as the first ones were.
        var more = VectorSets.Clustered(200, dim, 30, 42);
        loaded.Add(VectorSets.Ids(200, offset: 1_000_000), more);
        int found = loaded.Search(more.AsSpan(0, dim), 1, a, sa);
        Assert.Equal(1, found);
        Assert.Equal(1_000_000, a[0]);
    }

    [Theory]
    [MemberData(nameof(StorageCases.CompactKinds), MemberType = typeof(StorageCases))]
    public void ChurnWithSlotReuseKeepsEveryLiveItemFindable(VectorStorage storage)
    {
        const int dim = 16, n = 2000;
        var data = VectorSets.Clustered(2 * n, dim, 20, 7);
        var ids = VectorSets.Ids(2 * n);
        using var index = new HnswIndex(dim, Metric.InnerProduct, CodesOnly(storage, m: 12) with { ReuseRemovedSlots = true });
        index.Add(ids.AsSpan(0, n), data.AsSpan(0, n * dim));
        for (int i = 0; i < n / 2; i++) index.Remove(ids[2 * i]);
        index.Add(ids.AsSpan(n, n / 2), data.AsSpan(n * dim, n / 2 * dim));
        index.AddOrReplace(ids.AsSpan(1, 1), data.AsSpan(3 * n * dim / 2, dim));
        Assert.Equal(n, index.Count);
        Assert.InRange(index.SlotCount, n, n + 1);
        // A one-item add defers the walk that relinks items a reused slot's new links cut off (a Save or a large add runs it).
        index.RepairReachability();
        var all = new long[n];
        int found = index.Search(data.AsSpan(0, dim), n, all, new float[n], new SearchOptions { Ef = 100_000 });
        Assert.Equal(n, all.Take(found).Distinct().Count());
        Assert.DoesNotContain(all.Take(found), id => id < ids[n] && (id - ids[0]) / 3 % 2 == 0);
    }

    [Fact]
    public void RefineZeroNeedsCompactStorageAndTheFactorySpellsIt()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new HnswIndex(8, Metric.L2, new HnswOptions { Refine = 0 }));
        Assert.Contains("needs compact storage", ex.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new HnswIndex(8, Metric.L2, new HnswOptions { Storage = VectorStorage.SQ8, Refine = -1 }));
        using var index = Assert.IsType<HnswIndex>(IndexFactory.Create("HNSW16,SQ8,refine=0", 8, Metric.InnerProduct));
        Assert.Equal(0, index.Refine);
    }
}
