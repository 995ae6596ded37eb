using System.Diagnostics;
using VectorRecall.Cluster;
using VectorRecall.Numerics;
using VectorRecall.Serving;

namespace VectorRecall.Benchmarks;

/// <summary>
/// <c>-- live BUNDLE [shards] [replicas] [items]</c>: live item changes on three in-process silos. Prints acknowledged
/// upserts per second and their latency (one item per call, one caller; 100 items per call; eight callers of one item
/// each), and the visibility latency: from the start of a write to the first search whose top-1 is the new item, polled
/// from the moment the write is acknowledged.
/// </summary>
internal static class LiveItemThroughput
{
    public static void Run(string[] args)
    {
        string bundle = args.Length > 0 ? args[0] : "bundle";
        int shards = args.Length > 1 ? int.Parse(args[1]) : 6;
        int replicas = args.Length > 2 ? int.Parse(args[2]) : 2;
        int items = args.Length > 3 ? int.Parse(args[3]) : 1000;
        string root = Path.Combine(Path.GetTempPath(), $"vrecall-live-bench-{Environment.ProcessId}");
        try
        {
            Console.Error.WriteLine($"splitting {bundle} into {shards} shards …");
            var set = ShardSet.Split(bundle, shards, root);
            using var service = RecallService.FromBundle(set.BundlePath);
            var rng = new Rng(5);
            // Distinct users: two items for one user would tie, and the later one would never be its top-1.
            var drawn = new HashSet<long>();
            while (drawn.Count < Math.Min(512, service.UserCount)) drawn.Add(rng.NextInt(service.UserCount));
            var users = service.EncodeUsers([.. drawn]);
            using var cluster = InProcessShards.Start(set, replicas);
            var router = new ShardedSearch(cluster.Client, set) { Replicas = replicas };
            var writer = new ShardedUpdates(cluster.Client, set) { Replicas = replicas };
            for (int s = 0; s < shards; s++)
                for (int r = 0; r < replicas; r++) cluster.Client.GetGrain<IShardGrain>(s, ShardedSearch.ReplicaName(r)).Status().GetAwaiter().GetResult();
            // Each item beats every bundle item for one user: its vector is that user's, scaled far up.
            float[] ItemFor(int u, float scale = 1000f) => [.. users.Row(u % users.Rows).ToArray().Select(v => v * scale)];
            int next = 0;
            ItemChange New() { int n = next++; return new ItemChange($"live-{n}", ItemFor(n)); }
            writer.WriteAsync([New()]).GetAwaiter().GetResult();   // every writer's first activation out of the timing
            for (int s = 0; s < shards; s++) cluster.Client.GetGrain<IShardWriterGrain>(s).Write([]).GetAwaiter().GetResult();
            Console.WriteLine($"{service.ItemCount:N0} bundle items in {shards} shards on 3 silos, {replicas} replica(s) each; logs on {root}");
            Console.WriteLine("writes                          items/s   p50 ms   p99 ms");

            Report("1 item per call, 1 caller", items, 1, () => writer.WriteAsync([New()]));
            Report("100 items per call, 1 caller", items, 100, () => writer.WriteAsync([.. Enumerable.Range(0, 100).Select(_ => New())]));
            Report("1 item per call, 8 callers", items, 1, () => writer.WriteAsync([New()]), callers: 8);

            var visible = new List<double>();
            int polls = 0, unseen = 0;
            for (int i = 0; i < Math.Min(items, 300); i++)
            {
                // A distinct user each time, and a larger scale than the items written above for the same user, which it must beat.
                var change = new ItemChange($"visible-{i}", ItemFor(i, 1e6f));
                var query = users.Row(i % users.Rows).ToArray();
                long start = Stopwatch.GetTimestamp();
                long row = writer.WriteAsync([change]).GetAwaiter().GetResult()[0].Row;
                // Polled for up to a second: a graph index may not find an item at all (recall below 1), which is not a delay.
                bool seen;
                while (!(seen = router.SearchAsync(query, 1).GetAwaiter().GetResult().Rows[0] == row) && Stopwatch.GetElapsedTime(start).TotalSeconds < 1) polls++;
                if (seen) visible.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                else unseen++;
            }
            visible.Sort();
            Console.WriteLine($"visibility (write start to first top-1 search): p50 {visible[visible.Count / 2]:F2} ms, p99 {visible[(int)(visible.Count * 0.99)]:F2} ms, max {visible[^1]:F2} ms over {visible.Count} items; " +
                $"{polls} searches after an acknowledgement missed the item; {unseen} items not top-1 within 1 s");
            Compaction(writer, router, users, $"{next + Math.Min(items, 300):N0} live items");
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>
    /// Compacts the set in place while four callers search and one writes, item by item (retrying a refused write after
    /// 10 ms, as a client told Retry-After would); prints how long writes were paused and what the searches and the writer saw.
    /// </summary>
    private static void Compaction(ShardedUpdates writer, ShardedSearch router, Tensor users, string what)
    {
        using var stop = new CancellationTokenSource();
        var latencies = new System.Collections.Concurrent.ConcurrentBag<double>();
        int failed = 0, written = 0, refused = 0;
        double longestWrite = 0;
        var searchers = Enumerable.Range(0, 4).Select(c => Task.Run(async () =>
        {
            for (int i = c; !stop.IsCancellationRequested; i += 4)
            {
                long start = Stopwatch.GetTimestamp();
                try { await router.SearchAsync(users.Row(i % users.Rows).ToArray(), 50); }
                catch (Exception) { Interlocked.Increment(ref failed); }
                latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
        })).ToArray();
        var writes = Task.Run(async () =>
        {
            for (int n = 0; !stop.IsCancellationRequested; n++)
            {
                long start = Stopwatch.GetTimestamp();
                while (true)
                {
                    try { await writer.WriteAsync([new ItemChange($"during-{n}", users.Row(n % users.Rows).ToArray())]); break; }
                    catch (VectorRecall.Retrieval.RetrieverUnavailableException) { refused++; await Task.Delay(10); }
                }
                written++;
                longestWrite = Math.Max(longestWrite, Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
        });
        Thread.Sleep(500);
        int before = latencies.Count;
        var clock = Stopwatch.StartNew();
        var done = writer.CompactAsync(resume: false, CancellationToken.None).GetAwaiter().GetResult();
        double total = clock.Elapsed.TotalSeconds;
        int during = latencies.Count - before;
        stop.Cancel();
        Task.WaitAll([.. searchers, writes]);
        var sorted = latencies.Skip(before).Take(during).Order().ToArray();
        Console.WriteLine($"compaction in place ({what}): generation {done.Generation} in {total * 1000:F0} ms, writes paused {done.PausedSeconds * 1000:F0} ms of it, {done.ReplicasReloaded}/{done.Replicas} replicas loaded it by then; " +
            $"{during} top-50 searches by 4 callers meanwhile, {failed} failed, p50 {sorted[sorted.Length / 2]:F2} ms, p99 {sorted[(int)(sorted.Length * 0.99)]:F2} ms; " +
            $"one writer: {written} items acknowledged, {refused} refusals retried, longest write {longestWrite:F0} ms");
    }

    private static void Report(string name, int items, int perCall, Func<Task<ItemChangeResult[]>> write, int callers = 1)
    {
        var latencies = new System.Collections.Concurrent.ConcurrentBag<double>();
        int calls = Math.Max(1, items / perCall);
        var clock = Stopwatch.StartNew();
        Task.WaitAll([.. Enumerable.Range(0, callers).Select(c => Task.Run(async () =>
        {
            for (int i = c; i < calls; i += callers)
            {
                long start = Stopwatch.GetTimestamp();
                await write();
                latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
        }))]);
        double seconds = clock.Elapsed.TotalSeconds;
        var sorted = latencies.Order().ToArray();
        Console.WriteLine($"{name,-30} {calls * perCall / seconds,9:N0} {sorted[sorted.Length / 2],8:F2} {sorted[(int)(sorted.Length * 0.99)],8:F2}");
    }
}
