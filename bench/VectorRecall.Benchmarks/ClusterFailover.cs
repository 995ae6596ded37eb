using System.Diagnostics;
using Orleans.TestingHost;
using VectorRecall.Cluster;
using VectorRecall.Numerics;
using VectorRecall.Serving;

namespace VectorRecall.Benchmarks;

/// <summary>
/// <c>-- failover BUNDLE [shards] [seconds]</c>: the bundle split into shards on three in-process silos, four clients querying
/// top-50 without pause, and one silo killed (no goodbye) two seconds in; for one and for two replicas per shard, the
/// requests answered and failed, the failure window (first to last failed request, counted from the kill), how long
/// until every query is whole again, and the slowest answers.
/// </summary>
internal static class ClusterFailover
{
    public static void Run(string[] args)
    {
        string bundle = args.Length > 0 ? args[0] : "bundle";
        int shards = args.Length > 1 ? int.Parse(args[1]) : 6;
        double seconds = args.Length > 2 ? double.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 60;
        string root = Path.Combine(Path.GetTempPath(), $"vrecall-failover-bench-{Environment.ProcessId}");
        try
        {
            var set = ShardSet.Split(bundle, shards, root);
            using var service = RecallService.FromBundle(set.BundlePath);
            var rng = new Rng(9);
            var vectors = service.EncodeUsers(Enumerable.Range(0, 256).Select(_ => (long)rng.NextInt(service.UserCount)).ToArray());
            Console.WriteLine($"{service.ItemCount:N0} items in {shards} shards on 3 silos; 4 clients, top-50, a silo killed 2 s in; {seconds:F0} s per run");
            Console.WriteLine("replicas   answered   failed   failure window (s after the kill)   whole again at (s)   p50 / p99 / max ms");
            foreach (int replicas in new[] { 2, 1 })
            {
                using var cluster = InProcessShards.Start(set);
                var router = new ShardedSearch(cluster.Client, set) { Replicas = replicas, ReplicaDeadline = TimeSpan.FromSeconds(1) };
                for (int s = 0; s < shards; s++)
                    for (int r = 0; r < replicas; r++) cluster.Client.GetGrain<IShardGrain>(s, ShardedSearch.ReplicaName(r)).Status().GetAwaiter().GetResult();
                var clock = Stopwatch.StartNew();
                double killedAt = double.NaN, firstFail = double.NaN, lastFail = double.NaN;
                int answered = 0, failed = 0;
                var latencies = new List<double>();
                var gate = new object();
                async Task Client(int c)
                {
                    for (int i = c; clock.Elapsed.TotalSeconds < seconds; i += 4)
                    {
                        long start = Stopwatch.GetTimestamp();
                        try
                        {
                            await router.SearchAsync(vectors.Row(i % 256).ToArray(), 50);
                            lock (gate) { answered++; latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds); }
                        }
                        catch (ShardUnavailableException)
                        {
                            double t = clock.Elapsed.TotalSeconds;
                            lock (gate) { failed++; if (double.IsNaN(firstFail)) firstFail = t; lastFail = t; }
                        }
                    }
                }
                var clients = Enumerable.Range(0, 4).Select(c => Task.Run(() => Client(c))).ToArray();
                Thread.Sleep(2000);
                killedAt = clock.Elapsed.TotalSeconds;
                cluster.KillSiloAsync(cluster.Silos[^1]).GetAwaiter().GetResult();
                Task.WaitAll(clients);
                latencies.Sort();
                string window = failed == 0 ? "none" : $"{firstFail - killedAt:F1} to {lastFail - killedAt:F1}";
                string whole = failed == 0 ? "always" : $"{lastFail - killedAt:F1}";
                Console.WriteLine($"{replicas,8} {answered,10} {failed,8}   {window,-34} {whole,-20} {latencies[latencies.Count / 2]:F2} / {latencies[(int)(latencies.Count * 0.99)]:F2} / {latencies[^1]:F0}");
            }
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }
}
