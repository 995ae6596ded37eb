using VectorRecall.Indexing;
using VectorRecall.Numerics;

namespace VectorRecall.Tests.Indexing;

/// <summary>
/// Every item must be reachable: a search as wide as the index returns all of it, for every metric,
/// on normalised and non-normalised data. Inner-product graphs on non-normalised vectors used to
/// lose a fifth of their items (small-norm items are nobody's nearest neighbour, so pruning cut every link to them).
/// </summary>
public class HnswReachabilityTests
{
    /// <summary>Points around random centres, not normalised: norms vary with the centre and the noise.</summary>
    private static float[] ClusteredRaw(int n, int dim, int clusters, ulong seed, float spread = 0.5f) =>
        VectorSets.Clustered(n, dim, clusters, seed, spread, normalise: false, centreScale: 0.7f);

    public static TheoryData<Metric, bool, int, VectorStorage> Cases()
    {
        // One thread too for float32 (the build order is then fixed); every storage on every metric, normalised or not.
        var rows = new TheoryData<Metric, bool, int, VectorStorage> { { Metric.InnerProduct, false, 1, VectorStorage.Float32 } };
        foreach (var storage in Enum.GetValues<VectorStorage>())
            foreach (var (metric, normalised) in new[] { (Metric.InnerProduct, false), (Metric.InnerProduct, true), (Metric.L2, false), (Metric.Cosine, false) })
                rows.Add(metric, normalised, 2, storage);
        return rows;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void AWideEnoughSearchReturnsEveryItem(Metric metric, bool normalised, int threads, VectorStorage storage)
    {
        const int n = 3000, dim = 16;
        // 10 clusters with little spread: the data on which plain inner-product graphs lost ~7 % of their items.
        var data = normalised ? VectorSets.Clustered(n, dim, 10, 21) : ClusteredRaw(n, dim, 10, 21, spread: 0.3f);
        using var index = new HnswIndex(dim, metric, new HnswOptions { M = 16, EfConstruction = 200, Threads = threads, Storage = storage });
        index.Add(VectorSets.Ids(n), data);
        var ids = new long[n];
        var scores = new float[n];
        var rng = new Rng(5);
        for (int trial = 0; trial < 3; trial++)
        {
            var query = data.AsSpan(rng.NextInt(n) * dim, dim);
            int found = index.Search(query, n, ids, scores, new SearchOptions { Ef = 100_000 });
            Assert.Equal(n, ids.Take(found).Distinct().Count());
        }
    }

    [Fact]
    public void ItemsAddedOneAtATimeAreAllReachableAfterSaveAndLoad()
    {
        const int n = 1500, dim = 16;
        var data = ClusteredRaw(n, dim, 10, 24, spread: 0.3f);
        var ids = VectorSets.Ids(n);
        using var dir = new TempDir();
        using (var index = new HnswIndex(dim, Metric.InnerProduct, new HnswOptions { M = 8, EfConstruction = 100, Threads = 1 }))
        {
            for (int i = 0; i < n; i++) index.Add(ids.AsSpan(i, 1), data.AsSpan(i * dim, dim));  // small batches defer the repair
            index.Save(dir.File("i.vrix"));                                                        // which Save then runs
        }
        using var loaded = HnswIndex.Load(dir.File("i.vrix"));
        var found = new long[n];
        Assert.Equal(n, found.Take(loaded.Search(data.AsSpan(0, dim), n, found, new float[n], new SearchOptions { Ef = 100_000 })).Distinct().Count());
    }

    [Fact]
    public async Task RepairsRunSafelyBesideConcurrentAddsAndSearches()
    {
        const int per = 1500, dim = 16;
        var data = ClusteredRaw(3 * per, dim, 10, 25, spread: 0.3f);
        var ids = VectorSets.Ids(3 * per);
        using var index = new HnswIndex(dim, Metric.InnerProduct, new HnswOptions { M = 8, EfConstruction = 64, Threads = 1 });
        index.Add(ids.AsSpan(0, per), data.AsSpan(0, per * dim));
        using var stop = new CancellationTokenSource();
        var searcher = Task.Run(() =>
        {
            var found = new long[10];
            var scores = new float[10];
            for (int q = 0; !stop.IsCancellationRequested; q = (q + 1) % per) index.Search(data.AsSpan(q * dim, dim), 10, found, scores);
        });
        // Two batches at once, each large enough to run a repair while the other is still inserting.
        await Task.WhenAll(
            Task.Run(() => index.Add(ids.AsSpan(per, per), data.AsSpan(per * dim, per * dim))),
            Task.Run(() => index.Add(ids.AsSpan(2 * per, per), data.AsSpan(2 * per * dim, per * dim))));
        stop.Cancel();
        await searcher;
        index.RepairReachability();
        var all = new long[3 * per];
        Assert.Equal(3 * per, all.Take(index.Search(data.AsSpan(0, dim), 3 * per, all, new float[3 * per], new SearchOptions { Ef = 100_000 })).Distinct().Count());
    }

    [Fact]
    public void InnerProductSearchStillRanksByInnerProduct()
    {
        const int n = 3000, dim = 16, k = 10;
        var data = ClusteredRaw(n, dim, 30, 22);
        var queries = ClusteredRaw(50, dim, 30, 23);
        var idList = VectorSets.Ids(n);
        using var index = new HnswIndex(dim, Metric.InnerProduct, new HnswOptions { M = 16, EfConstruction = 200 });
        index.Add(idList, data);
        var ids = new long[k];
        var scores = new float[k];
        int hits = 0;
        for (int q = 0; q < 50; q++)
        {
            var query = queries.AsSpan(q * dim, dim);
            int found = index.Search(query, k, ids, scores, new SearchOptions { Ef = 200 });
            var exact = VectorSets.Exact(data, idList, query, Metric.InnerProduct, k);
            hits += ids.Take(found).Intersect(exact.Select(e => e.Id)).Count();
            for (int i = 0; i < found; i++)
            {
                int row = (int)((ids[i] - 1000) / 3);
                Assert.Equal(System.Numerics.Tensors.TensorPrimitives.Dot(query, data.AsSpan(row * dim, dim)), scores[i], 3);
            }
        }
        Assert.True(hits / (50.0 * k) >= 0.95, $"recall@10 {hits / (50.0 * k):F3}");
    }
}
