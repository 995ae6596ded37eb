using VectorRecall.Indexing;
using VectorRecall.Numerics;

namespace VectorRecall.Tests.Indexing;

public class SlotReuseTests
{
    private const int Dim = 16;

    private static double RecallAt10(HnswIndex index, float[] data, long[] ids, Func<long, bool> live)
    {
        var flat = new FlatIndex(Dim, index.Metric);
        var keep = Enumerable.Range(0, ids.Length).Where(i => live(ids[i])).ToArray();
        flat.Add(keep.Select(i => ids[i]).ToArray(), keep.SelectMany(i => data.AsSpan(i * Dim, Dim).ToArray()).ToArray());
        int hits = 0;
        var a = new long[10]; var e = new long[10];
        for (int q = 0; q < 100; q++)
        {
            var query = data.AsSpan(q * 7 * Dim, Dim);
            int na = index.Search(query, 10, a, new float[10], new SearchOptions { Ef = 100 });
            int ne = flat.Search(query, 10, e, new float[10]);
            hits += a.Take(na).Intersect(e.Take(ne)).Count();
        }
        return hits / 1000.0;
    }

    [Theory]
    [MemberData(nameof(StorageCases.All), MemberType = typeof(StorageCases))]
    public void AddsTakeRemovedSlotsAndTheIndexSearchesAsWell(VectorStorage storage)
    {
        const int n = 3000;
        var data = VectorSets.Clustered(2 * n, Dim, 30, 5);
        var ids = VectorSets.Ids(2 * n);
        using var index = new HnswIndex(Dim, Metric.InnerProduct, new HnswOptions { M = 12, EfConstruction = 100, ReuseRemovedSlots = true, Storage = storage });
        index.Add(ids.AsSpan(0, n), data.AsSpan(0, n * Dim));
        // Churn: a third out, as many new ones in, three times over.
        var live = new HashSet<long>(ids.Take(n));
        int next = n;
        for (int round = 0; round < 3; round++)
        {
            var gone = live.Where((_, i) => i % 3 == round).Take(n / 3).ToArray();
            foreach (long id in gone) { index.Remove(id); live.Remove(id); }
            int count = gone.Length;
            index.Add(ids.AsSpan(next, count), data.AsSpan(next * Dim, count * Dim));
            foreach (long id in ids.AsSpan(next, count)) live.Add(id);
            next += count;
        }
        Assert.Equal(n, index.Count);
        Assert.InRange(index.SlotCount, n, n + 1);  // the entry point's slot is never reused
        double recall = RecallAt10(index, data, ids, live.Contains);
        Assert.True(recall >= 0.95, $"recall@10 after churn {recall:F3}");
        // Every live item is reachable once the repair has run (adds of fewer than 1,024 items defer it, and a reused slot's
        // new links can cut off an item its old ones reached); no removed one is returned.
        index.RepairReachability();
        var all = new long[n + 10];
        int found = index.Search(data.AsSpan(0, Dim), n, all, new float[n + 10], new SearchOptions { Ef = 100_000 });
        Assert.Equal(n, found);
        Assert.True(all.Take(found).All(live.Contains));
    }

    [Fact]
    public void AddOrReplaceGivesAnIdItsNewVectorInItsOwnSlot()
    {
        const int n = 2000;
        var data = VectorSets.Clustered(n, Dim, 20, 6);
        var ids = VectorSets.Ids(n);
        using var index = new HnswIndex(Dim, Metric.L2, new HnswOptions { M = 12, EfConstruction = 100, ReuseRemovedSlots = true });
        index.Add(ids, data);
        // Items 0 .. 99 take the vectors of items 1000 .. 1099 (shifted a little, so each has one nearest).
        var moved = data.AsSpan(1000 * Dim, 100 * Dim).ToArray();
        for (int i = 0; i < moved.Length; i++) moved[i] += 1e-3f;
        index.AddOrReplace(ids.AsSpan(0, 100), moved);
        Assert.Equal(n, index.Count);
        Assert.InRange(index.SlotCount, n, n + 1);
        var found = new long[2];
        for (int i = 0; i < 100; i++)
        {
            index.Search(moved.AsSpan(i * Dim, Dim), 2, found, new float[2], new SearchOptions { Ef = 200 });
            Assert.Equal(ids[i], found[0]);
        }
        using var plain = new HnswIndex(Dim, Metric.L2, new HnswOptions { M = 8 });
        plain.Add(ids.AsSpan(0, 10), data.AsSpan(0, 10 * Dim));
        plain.AddOrReplace(ids.AsSpan(0, 5), data.AsSpan(100 * Dim, 5 * Dim));
        Assert.Equal((10, 15), (plain.Count, plain.SlotCount));  // without reuse, replaced items take new slots
    }

    [Fact]
    public async Task SearchesRunningWhileSlotsAreReusedReturnOnlyAddedIdsOnce()
    {
        const int n = 4000;
        var data = VectorSets.Clustered(3 * n, Dim, 30, 7);
        var ids = VectorSets.Ids(3 * n);
        using var index = new HnswIndex(Dim, Metric.InnerProduct, new HnswOptions { M = 12, EfConstruction = 64, ReuseRemovedSlots = true, Threads = 1 });
        index.Add(ids.AsSpan(0, n), data.AsSpan(0, n * Dim));
        var everAdded = new HashSet<long>(ids);
        using var stop = new CancellationTokenSource();
        var searches = Enumerable.Range(0, 2).Select(t => Task.Run(() =>
        {
            var found = new long[20];
            var rng = new Rng((ulong)t + 1);
            int runs = 0;
            while (!stop.IsCancellationRequested || runs < 50)
            {
                int got = index.Search(data.AsSpan(rng.NextInt(3 * n) * Dim, Dim), 20, found, new float[20]);
                Assert.True(got > 0);
                Assert.Equal(got, found.Take(got).Distinct().Count());
                Assert.True(found.Take(got).All(everAdded.Contains));
                runs++;
            }
        })).ToArray();
        for (int round = 0, next = n; round < 4; round++, next += n / 2)
        {
            for (int i = 0; i < n / 2; i++) index.Remove(ids[round * (n / 2) + i]);
            index.Add(ids.AsSpan(next, n / 2), data.AsSpan(next * Dim, n / 2 * Dim));
        }
        stop.Cancel();
        await Task.WhenAll(searches);
        Assert.Equal(n, index.Count);
    }

    [Fact]
    public void TheOptionAndTheFreeSlotsSurviveSaveAndLoad()
    {
        using var dir = new TempDir();
        var data = VectorSets.Clustered(600, Dim, 6, 8);
        var ids = VectorSets.Ids(600);
        using (var index = Assert.IsType<HnswIndex>(IndexFactory.Create("HNSW8,reuse,efc=40", Dim, Metric.Cosine)))
        {
            Assert.True(index.Options.ReuseRemovedSlots);
            index.Add(ids.AsSpan(0, 500), data.AsSpan(0, 500 * Dim));
            for (int i = 100; i < 200; i++) index.Remove(ids[i]);
            index.Save(dir.File("r.vrix"));
        }
        using var loaded = HnswIndex.Load(dir.File("r.vrix"));
        Assert.True(loaded.Options.ReuseRemovedSlots);
        loaded.Add(ids.AsSpan(500, 100), data.AsSpan(500 * Dim, 100 * Dim));
        Assert.Equal((500, 500), (loaded.Count, loaded.SlotCount));
    }
}
