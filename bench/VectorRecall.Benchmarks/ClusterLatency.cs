using System.Diagnostics;
using Orleans.TestingHost;
using VectorRecall.Cluster;
using VectorRecall.Numerics;
using VectorRecall.Serving;

namespace VectorRecall.Benchmarks;

/// <summary>
/// <c>-- cluster BUNDLE [queries] [shards...]</c>: the bundle split into 1, 3 and 6 shards (or the counts given), each set
/// served by three in-process silos, and for k = 50 and 500 the latency (p50 / p99 ms, one query at a time) of: the bundle's
/// own index on one machine; one shard's index searched locally; one shard through its grain (the Orleans round trip
/// included); the whole fan-out and merge; and the merge alone.
/// </summary>
internal static class ClusterLatency
{
    public static void Run(string[] args)
    {
        string bundle = args.Length > 0 ? args[0] : "bundle";
        int queries = args.Length > 1 ? int.Parse(args[1]) : 1000;
        int[] shardCounts = args.Length > 2 ? args[2..].Select(int.Parse).ToArray() : [1, 3, 6];
        using var service = RecallService.FromBundle(bundle);
        var single = service.Index ?? throw new ArgumentException("this benchmark needs a two-tower bundle (an index over item vectors)");
        var rng = new Rng(5);
        var vectors = service.EncodeUsers(Enumerable.Range(0, queries).Select(_ => (long)rng.NextInt(service.UserCount)).ToArray());
        var query = Enumerable.Range(0, queries).Select(q => vectors.Row(q).ToArray()).ToArray();
        Console.WriteLine($"{single.GetType().Name}, {service.ItemCount:N0} items, {queries} queries one at a time, 3 silos in this process; p50 / p99 ms");
        Console.WriteLine("shards     k   one index   shard local   shard grain   fan-out (k each)   fan-out (bound)   merge (k each)   merge (bound)   second rounds");
        string root = Path.Combine(Path.GetTempPath(), $"vrecall-cluster-bench-{Environment.ProcessId}");
        try
        {
            foreach (int shards in shardCounts)
            {
                var set = ShardSet.Split(bundle, shards, Path.Combine(root, $"s{shards}"));
                using var cluster = InProcessShards.Start(set);
                var plain = new ShardedSearch(cluster.Client, set) { PoissonBound = false };
                using var shard0 = set.LoadShard(0);
                var grain0 = cluster.Client.GetGrain<IShardGrain>(0, ShardedSearch.ReplicaName(0));
                foreach (int k in new[] { 50, 500 })
                {
                    var ids = new long[k];
                    var scores = new float[k];
                    var router = new ShardedSearch(cluster.Client, set);
                    int limit = ShardedSearch.ShardLimit(k, shards);
                    string oneIndex = Time(query, q => single.Search(q, k, ids, scores));
                    string local = Time(query, q => shard0.Search(q, Math.Min(k, shard0.Count), ids, scores));
                    string grain = Time(query, q => grain0.Search(new ShardQuery(q, k)).GetAwaiter().GetResult());
                    string fanOut = Time(query, q => plain.SearchAsync(q, k).GetAwaiter().GetResult());
                    string bounded = Time(query, q => router.SearchAsync(q, k).GetAwaiter().GetResult());
                    var (asked, again, _) = router.Counts;
                    string merge = Time(Answers(cluster, query, shards, k), a => ShardedSearch.Merge(a, k));
                    string mergeBounded = Time(Answers(cluster, query, shards, limit), a => ShardedSearch.Merge(a, k));
                    Console.WriteLine($"{shards,6} {k,5} {oneIndex,11} {local,13} {grain,13} {fanOut,18} {bounded,17} {merge,16} {mergeBounded,15} {again,8} of {asked * shards}");
                }
                cluster.StopAllSilosAsync().GetAwaiter().GetResult();
            }
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>Each shard's answer for the first 200 queries, asked for <paramref name="limit"/> items.</summary>
    private static List<ShardHits[]> Answers(InProcessTestCluster cluster, float[][] query, int shards, int limit) =>
        query.Take(200).Select(q => Enumerable.Range(0, shards)
            .Select(s => cluster.Client.GetGrain<IShardGrain>(s, ShardedSearch.ReplicaName(0)).Search(new ShardQuery(q, limit)).GetAwaiter().GetResult()).ToArray()).ToList();

    /// <summary>p50 / p99 of <paramref name="work"/> over the items, after one warm-up pass.</summary>
    private static string Time<T>(IReadOnlyList<T> items, Action<T> work)
    {
        foreach (var item in items) work(item);
        var ms = new double[items.Count];
        for (int i = 0; i < items.Count; i++)
        {
            long start = Stopwatch.GetTimestamp();
            work(items[i]);
            ms[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        Array.Sort(ms);
        return $"{ms[ms.Length / 2]:F3}/{ms[Math.Min(ms.Length - 1, (int)(ms.Length * 0.99))]:F3}";
    }
}
