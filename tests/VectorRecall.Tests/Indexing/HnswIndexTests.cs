using VectorRecall.Indexing;
using VectorRecall.IO;
using VectorRecall.Numerics;

namespace VectorRecall.Tests.Indexing;

public class HnswIndexTests
{
    private static double RecallAt(IVectorIndex approximate, IVectorIndex exact, float[] queries, int dim, int k)
    {
        int nq = queries.Length / dim, hits = 0;
        var a = new long[k]; var sa = new float[k]; var e = new long[k]; var se = new float[k];
        for (int q = 0; q < nq; q++)
        {
            var query = queries.AsSpan(q * dim, dim);
            int na = approximate.Search(query, k, a, sa);
            int ne = exact.Search(query, k, e, se);
            hits += a.Take(na).Intersect(e.Take(ne)).Count();
        }
        return hits / (double)(nq * k);
    }

    [Theory]
    [MemberData(nameof(StorageCases.ByMetric), new[] { Metric.InnerProduct, Metric.L2, Metric.Cosine }, false, MemberType = typeof(StorageCases))]
    public void RecallAt10IsAbove95PercentOnAClusteredSet(Metric metric, VectorStorage storage)
    {
        const int n = 10000, dim = 32;
        var data = VectorSets.Clustered(n, dim, 100, 11);
        var queries = VectorSets.Clustered(200, dim, 100, 12);
        var ids = VectorSets.Ids(n);
        using var hnsw = new HnswIndex(dim, metric, new HnswOptions { M = 16, EfConstruction = 100, EfSearch = 100, Storage = storage });
        hnsw.Add(ids, data);
        var flat = new FlatIndex(dim, metric);
        flat.Add(ids, data);
        double recall = RecallAt(hnsw, flat, queries, dim, 10);
        Assert.True(recall >= 0.95, $"recall@10 {recall:F3}");
        Assert.Equal(n, hnsw.Count);
        // Scores are exact whatever the walk read: the best result's is the flat index's.
        var a = new long[1]; var sa = new float[1]; var e = new long[1]; var se = new float[1];
        hnsw.Search(queries.AsSpan(0, dim), 1, a, sa);
        flat.Search(queries.AsSpan(0, dim), 1, e, se);
        if (a[0] == e[0]) Assert.Equal(se[0], sa[0], 4);
    }

    [Fact]
    public void SearchesAreSortedAndScoresMatchTheMetric()
    {
        var data = VectorSets.Clustered(2000, 8, 20, 5);
        using var index = new HnswIndex(8, Metric.InnerProduct, new HnswOptions { M = 8, EfConstruction = 64, Threads = 1, Seed = 42 });
        index.Add(VectorSets.Ids(2000), data);
        var ids = new long[20]; var scores = new float[20];
        var q = data.AsSpan(0, 8);
        Assert.Equal(20, index.Search(q, 20, ids, scores, new SearchOptions { Ef = 200 }));
        Assert.Equal(1000L, ids[0]);
        Assert.Equal(1f, scores[0], 4);
        for (int i = 1; i < 20; i++) Assert.True(scores[i] <= scores[i - 1]);
        Assert.Equal(2000, index.Search(q, 5000, new long[5000], new float[5000], new SearchOptions { Ef = 10 }));
    }

    [Fact]
    public void OneThreadAndOneSeedGiveTheSameGraph()
    {
        var data = VectorSets.Clustered(3000, 16, 30, 8);
        var results = new List<long[]>();
        for (int run = 0; run < 2; run++)
        {
            using var index = new HnswIndex(16, Metric.L2, new HnswOptions { M = 8, EfConstruction = 50, Threads = 1, Seed = 42 });
            index.Add(VectorSets.Ids(3000), data);
            var ids = new long[10]; var scores = new float[10];
            var all = new List<long>();
            for (int q = 0; q < 50; q++) { index.Search(data.AsSpan(q * 16, 16), 10, ids, scores, new SearchOptions { Ef = 10 }); all.AddRange(ids); }
            results.Add(all.ToArray());
        }
        Assert.Equal(results[0], results[1]);
    }

    [Fact]
    public void RemovedItemsAreNeverReturnedAndTheRestStayReachable()
    {
        const int n = 5000, dim = 16;
        var data = VectorSets.Clustered(n, dim, 50, 21);
        var ids = VectorSets.Ids(n);
        using var index = new HnswIndex(dim, Metric.InnerProduct, new HnswOptions { M = 8, EfConstruction = 100 });
        index.Add(ids, data);
        var removed = ids.Where((_, i) => i % 3 == 0).ToHashSet();
        foreach (long id in removed) index.Remove(id);
        Assert.Equal(n - removed.Count, index.Count);
        var flat = new FlatIndex(dim, Metric.InnerProduct);
        flat.Add(ids.Where(id => !removed.Contains(id)).ToArray(),
            Enumerable.Range(0, n).Where(i => i % 3 != 0).SelectMany(i => data.AsSpan(i * dim, dim).ToArray()).ToArray());
        var outIds = new long[10]; var outScores = new float[10];
        for (int q = 0; q < 200; q++)
        {
            int found = index.Search(data.AsSpan(q * dim, dim), 10, outIds, outScores, new SearchOptions { Ef = 100 });
            Assert.Equal(10, found);
            Assert.DoesNotContain(outIds, id => removed.Contains(id));
        }
        double recall = RecallAt(index, flat, VectorSets.Clustered(100, dim, 50, 22), dim, 10);
        Assert.True(recall >= 0.9, $"recall@10 after removing a third: {recall:F3}");
        Assert.Throws<KeyNotFoundException>(() => index.Remove(ids[0]));
    }

    [Fact]
    public async Task ConcurrentAddsAndSearchesGiveValidResults()
    {
        const int dim = 16, batches = 40, batch = 250;
        var data = VectorSets.Clustered(batches * batch, dim, 40, 31);
        var ids = VectorSets.Ids(batches * batch);
        var known = ids.ToHashSet();
        using var index = new HnswIndex(dim, Metric.L2, new HnswOptions { M = 8, EfConstruction = 60, Threads = 2 });
        index.Add(ids.AsSpan(0, batch), data.AsSpan(0, batch * dim));
        var errors = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource();
        var searchers = Enumerable.Range(0, 2).Select(t => Task.Run(() =>
        {
            var rng = new Rng((ulong)t);
            var outIds = new long[10]; var outScores = new float[10];
            int searches = 0;
            while (!stop.IsCancellationRequested || searches < 100)
            {
                int q = rng.NextInt(batches * batch);
                int found = index.Search(data.AsSpan(q * dim, dim), 10, outIds, outScores, new SearchOptions { Ef = 20 });
                for (int i = 0; i < found; i++)
                {
                    if (!known.Contains(outIds[i])) errors.Enqueue($"unknown id {outIds[i]}");
                    if (!float.IsFinite(outScores[i]) || outScores[i] < 0) errors.Enqueue($"bad score {outScores[i]}");
                    if (i > 0 && outScores[i] < outScores[i - 1]) errors.Enqueue("results out of order");
                }
                if (outIds.Take(found).Distinct().Count() != found) errors.Enqueue("duplicate ids in one result");
                searches++;
            }
        })).ToArray();
        for (int b = 1; b < batches; b++)
            index.Add(ids.AsSpan(b * batch, batch), data.AsSpan(b * batch * dim, batch * dim));
        stop.Cancel();
        await Task.WhenAll(searchers);
        Assert.Empty(errors);
        Assert.Equal(batches * batch, index.Count);
    }

    [Theory]
    [MemberData(nameof(StorageCases.All), MemberType = typeof(StorageCases))]
    public void SaveLoadGivesIdenticalResults(VectorStorage storage)
    {
        using var dir = new TempDir();
        const int dim = 16;
        var data = VectorSets.Clustered(3000, dim, 30, 41);
        using var index = new HnswIndex(dim, Metric.Cosine, new HnswOptions { M = 12, EfConstruction = 80, EfSearch = 30, Storage = storage, Refine = 3 });
        index.Add(VectorSets.Ids(3000), data);
        index.Remove(1000 + 3 * 17);
        string path = dir.File("h.vrix");
        index.Save(path);
        using var loaded = Assert.IsType<HnswIndex>(IndexFactory.Load(path));
        Assert.Equal(index.Count, loaded.Count);
        Assert.Equal(12, loaded.M);
        Assert.Equal(30, loaded.EfSearch);
        Assert.Equal(storage, loaded.Options.Storage);
        Assert.Equal(3, loaded.Options.Refine);
        Assert.Equal(index.BytesPerVector, loaded.BytesPerVector, 3);
        Assert.False(loaded.Contains(1000 + 3 * 17));
        var a = new long[10]; var sa = new float[10]; var b = new long[10]; var sb = new float[10];
        for (int q = 0; q < 100; q++)
        {
            index.Search(data.AsSpan(q * dim, dim), 10, a, sa);
            loaded.Search(data.AsSpan(q * dim, dim), 10, b, sb);
            Assert.Equal(a, b);
            Assert.Equal(sa, sb);
        }
        loaded.Add([1], data.AsSpan(0, dim));
        Assert.Equal(index.Count + 1, loaded.Count);
        Assert.DoesNotContain(dir.Files(), f => f.Contains(".tmp"));
    }

    public static TheoryData<string, string, VectorStorage, int?, VectorStorage> Corruptions()
    {
        var rows = new TheoryData<string, string, VectorStorage, int?, VectorStorage>
        {
            { "foreign", "not a VectorRecall index", VectorStorage.Float32, null, VectorStorage.Float32 },
            { "version", "version", VectorStorage.Float32, null, VectorStorage.Float32 },
        };
        // Every storage kind, SQ8 without exact vectors (refine 0), whose file has no exact section, and SQ8 with them in half precision.
        var kinds = Enum.GetValues<VectorStorage>().Select(v => (v, (int?)null, VectorStorage.Float32))
            .Append((VectorStorage.SQ8, 0, VectorStorage.Float32)).Append((VectorStorage.SQ8, null, VectorStorage.FP16));
        foreach (var (storage, refine, refineStorage) in kinds)
            foreach (var (kind, expected) in new[] { ("truncated", "truncated"), ("flipped", "checksum mismatch"), ("trailing", "trailing bytes") })
                rows.Add(kind, expected, storage, refine, refineStorage);
        return rows;
    }

    [Theory]
    [MemberData(nameof(Corruptions))]
    public void CorruptFilesGiveClearErrors(string kind, string expected, VectorStorage storage, int? refine, VectorStorage refineStorage)
    {
        using var dir = new TempDir();
        string path = dir.File("h.vrix");
        using (var index = new HnswIndex(8, Metric.L2, new HnswOptions { M = 4, EfConstruction = 20, Storage = storage, Refine = refine, RefineStorage = refineStorage }))
        {
            index.Add(VectorSets.Ids(300), VectorSets.Clustered(300, 8, 5, 1));
            index.Save(path);
        }
        var bytes = File.ReadAllBytes(path);
        bytes = kind switch
        {
            "truncated" => bytes[..(bytes.Length / 2)],
            "flipped" => Flip(bytes, bytes.Length / 2),
            "foreign" => System.Text.Encoding.ASCII.GetBytes("PK\u0003\u0004 this is a zip file, not an index"),
            "trailing" => [.. bytes, 0],
            "version" => Flip(bytes, 4),
            _ => bytes,
        };
        File.WriteAllBytes(path, bytes);
        var ex = Assert.Throws<FileFormatException>(() => HnswIndex.Load(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains(expected, ex.Message);

        static byte[] Flip(byte[] b, int at) { b[at] ^= 0x5A; return b; }
    }

    [Fact]
    public void LoadingTheWrongKindSaysSo()
    {
        using var dir = new TempDir();
        var flat = new FlatIndex(4, Metric.L2);
        flat.Add([1], [1, 2, 3, 4]);
        flat.Save(dir.File("f.vrix"));
        Assert.Contains("holds a Flat index, expected HNSW", Assert.Throws<FileFormatException>(() => HnswIndex.Load(dir.File("f.vrix"))).Message);
    }
}
