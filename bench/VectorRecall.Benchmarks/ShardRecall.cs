using VectorRecall.Cluster;
using VectorRecall.Indexing;
using VectorRecall.Numerics;
using VectorRecall.Serving;

namespace VectorRecall.Benchmarks;

/// <summary>
/// <c>-- shard-recall BUNDLE [queries]</c>: recall@k against exact search of the bundle's own index on one machine and
/// of the same index split into 3 and 6 shards on three in-process silos, at the same search width (ef), for k = 10
/// and 50 and ef = k, 2k and the index's default.
/// </summary>
internal static class ShardRecall
{
    public static void Run(string[] args)
    {
        string bundle = args.Length > 0 ? args[0] : "bundle";
        int queries = args.Length > 1 ? int.Parse(args[1]) : 500;
        using var service = RecallService.FromBundle(bundle);
        var single = service.Index as HnswIndex ?? throw new ArgumentException("this benchmark needs a bundle searched through an HNSW index");
        var items = service.LoadItemVectors();
        using var exact = new FlatIndex(items.Cols, single.Metric);
        exact.Add([.. Enumerable.Range(0, items.Rows).Select(r => (long)r)], items.Span);
        var rng = new Rng(11);
        var vectors = service.EncodeUsers(Enumerable.Range(0, queries).Select(_ => (long)rng.NextInt(service.UserCount)).ToArray());
        var query = Enumerable.Range(0, queries).Select(q => vectors.Row(q).ToArray()).ToArray();
        Console.WriteLine($"HNSW M {single.M}, default ef {single.EfSearch}, {service.ItemCount:N0} items, {queries} queries; recall@k against exact search");
        Console.WriteLine("    k     ef   one index   3 shards   6 shards");
        var truth = new Dictionary<int, HashSet<long>[]>();
        foreach (int k in new[] { 10, 50 })
            truth[k] = [.. query.Select(q => { var ids = new long[k]; var s = new float[k]; exact.Search(q, k, ids, s); return ids.ToHashSet(); })];
        string root = Path.Combine(Path.GetTempPath(), $"vrecall-shard-recall-{Environment.ProcessId}");
        try
        {
            var sets = new[] { 3, 6 }.Select(n => ShardSet.Split(bundle, n, Path.Combine(root, $"s{n}"))).ToArray();
            var clusters = sets.Select(set => InProcessShards.Start(set)).ToArray();
            try
            {
                foreach (int k in new[] { 10, 50 })
                    foreach (int ef in new[] { k, 2 * k, single.EfSearch })
                    {
                        double one = Recall(truth[k], q => { var ids = new long[k]; var s = new float[k]; int n = single.Search(query[q], k, ids, s, SearchOptions.Of(null, ef)); return ids[..n]; });
                        var sharded = sets.Select((set, i) =>
                        {
                            var router = new ShardedSearch(clusters[i].Client, set);
                            return Recall(truth[k], q => router.SearchAsync(query[q], k, ef).GetAwaiter().GetResult().Rows);
                        }).ToArray();
                        Console.WriteLine($"{k,5} {ef,6} {one,11:F4} {sharded[0],10:F4} {sharded[1],10:F4}");
                    }
            }
            finally
            {
                foreach (var c in clusters) { c.StopAllSilosAsync().GetAwaiter().GetResult(); c.Dispose(); }
            }
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }

    private static double Recall(HashSet<long>[] truth, Func<int, long[]> search)
    {
        long hit = 0, total = 0;
        for (int q = 0; q < truth.Length; q++)
        {
            hit += search(q).Count(truth[q].Contains);
            total += truth[q].Count;
        }
        return (double)hit / total;
    }
}
