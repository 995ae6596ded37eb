using System.Diagnostics;
using VectorRecall.Cluster;
using VectorRecall.Serving;

namespace VectorRecall.Tests.Cluster;

/// <summary>
/// Live items on three in-process silos, six shards, two replicas each: an upserted item is in the answers of every
/// replica at once, a deleted one never again, and both survive the shard grains' deactivation (replayed from the logs).
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class LiveItemTests() : ShardClusterFixture(6, replicas: 2)
{
    private ShardedSearch Router() => new(Cluster.Client, Set) { Replicas = 2, ReplicaDeadline = TimeSpan.FromSeconds(30) };
    private ShardedUpdates Writer() => new(Cluster.Client, Set);

    /// <summary>A vector every query of <paramref name="query"/>'s direction ranks first: the query scaled far past any item.</summary>
    private static float[] Beating(float[] query) => [.. query.Select(v => v * 1000f)];

    private static float[] Query(int item) => Model.ItemVectors.Row(item).ToArray();

    [Fact]
    public async Task AnUpsertedItemIsAnsweredAtOnceByEveryReplicaAndADeletedOneNeverAgain()
    {
        var router = Router();
        var query = Query(5);
        var watch = Stopwatch.StartNew();
        var written = await Writer().WriteAsync([new ItemChange("fresh-item", Beating(query))]);
        Assert.False(written[0].Found);
        Assert.True(written[0].Row >= Set.Items);
        // Queries take turns over the two replicas: each answers with the new item, first, named by its id.
        for (int i = 0; i < 4; i++)
        {
            var answer = await router.SearchAsync(query, 10);
            Assert.Equal(written[0].Row, answer.Rows[0]);
            Assert.Equal("fresh-item", answer.LiveKeys![0]);
            Assert.All(answer.LiveKeys.Skip(1), Assert.Null);
        }
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"visible after {watch.Elapsed.TotalMilliseconds:F0} ms");

        var deleted = await Writer().WriteAsync([new ItemChange("fresh-item", null)]);
        Assert.True(deleted[0].Found);
        for (int i = 0; i < 4; i++) Assert.DoesNotContain(written[0].Row, (await router.SearchAsync(query, 10)).Rows);
        Assert.False((await Writer().WriteAsync([new ItemChange("fresh-item", null)]))[0].Found);
    }

    [Fact]
    public async Task ChangesSurviveTheGrainsDeactivation()
    {
        var router = Router();
        var query = Query(9);
        string baseKey = Model.ItemIds[3].ToString(System.Globalization.CultureInfo.InvariantCulture);
        var written = await Writer().WriteAsync([new ItemChange("kept-item", Beating(query)), new ItemChange(baseKey, null)]);
        Assert.True(written[1].Found);

        for (int s = 0; s < Set.Shards; s++)
        {
            await Cluster.DeactivateAsync(Cluster.Client.GetGrain<IShardWriterGrain>(s));
            for (int r = 0; r < 2; r++) await Cluster.DeactivateAsync(Cluster.Client.GetGrain<IShardGrain>(s, ShardedSearch.ReplicaName(r)));
        }
        for (int i = 0; i < 4; i++)
        {
            var answer = await router.SearchAsync(query, 50);
            Assert.Equal(written[0].Row, answer.Rows[0]);
            Assert.Equal("kept-item", answer.LiveKeys![0]);
            Assert.DoesNotContain(3L, answer.Rows);
        }
        // The writer replayed its log: the id keeps its row, the deleted bundle item is not held.
        var again = await Writer().WriteAsync([new ItemChange("kept-item", Beating(query)), new ItemChange(baseKey, null)]);
        Assert.Equal(written[0].Row, again[0].Row);
        Assert.True(again[0].Found);
        Assert.False(again[1].Found);
    }

    [Fact]
    public async Task AChangeNoReplicaWasToldOfIsReadFromTheLogWithinSeconds()
    {
        // Written to shard 0's log behind the cluster's back (as when passing it to the replicas failed): the replicas look.
        var router = Router();
        var query = Query(21);
        await router.SearchAsync(query, 5);   // every replica active
        string key = Enumerable.Range(0, 1000).Select(i => $"unannounced-{i}").First(k => ShardSet.OwnerOf(k, Set.Shards) == 0);
        int row;
        using (var log = ShardUpdateLog.Open(Set, 0)) row = log.Write([new ItemChange(key, Beating(query))]).Results[0].Row;
        var watch = Stopwatch.StartNew();
        int seen = 0;
        while (seen < 2 && watch.Elapsed < TimeSpan.FromSeconds(10))
        {
            var answer = await router.SearchAsync(query, 1);
            seen = answer.Rows[0] == row ? seen + 1 : 0;   // both replicas in turn
            if (seen == 0) await Task.Delay(50);
        }
        Assert.True(seen == 2, $"not served after {watch.Elapsed.TotalSeconds:F1} s (replicas look every second)");
    }

    [Fact]
    public async Task BadChangesAreRefusedBeforeAnythingIsWritten()
    {
        var writer = Writer();
        await Assert.ThrowsAsync<ArgumentException>(() => writer.WriteAsync([new ItemChange("ok", new float[Set.Dimension]), new ItemChange("short", new float[2])]));
        await Assert.ThrowsAsync<ArgumentException>(() => writer.WriteAsync([new ItemChange("", new float[Set.Dimension])]));
        var nan = new float[Set.Dimension];
        nan[1] = float.NaN;
        await Assert.ThrowsAsync<ArgumentException>(() => writer.WriteAsync([new ItemChange("nan", nan)]));
        await Assert.ThrowsAsync<ArgumentException>(() => writer.WriteAsync([new ItemChange(new string('x', ShardLog.MaxKeyBytes + 1), new float[Set.Dimension])]));
        Assert.False((await writer.WriteAsync([new ItemChange("ok", null)]))[0].Found);
    }

    [Fact]
    public async Task ACompactionWhileServingPausesWritesNotSearches()
    {
        var router = Router();
        var writer = new ShardedUpdates(Cluster.Client, Set) { Replicas = 2 };
        var query = Query(5);
        string baseKey = Model.ItemIds[3].ToString(System.Globalization.CultureInfo.InvariantCulture);
        var before = await writer.WriteAsync([new ItemChange("pre-item", Beating(query)), new ItemChange(baseKey, null)]);

        // Searches run all through the compaction; none may fail, and every one still sees the live item first.
        using var stop = new CancellationTokenSource();
        int searches = 0, wrong = 0;
        var load = Enumerable.Range(0, 3).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var answer = await router.SearchAsync(query, 10);
                if (answer.Rows[0] != before[0].Row || answer.Rows.Contains(3)) Interlocked.Increment(ref wrong);
                Interlocked.Increment(ref searches);
            }
        })).ToArray();
        // And a writer goes on: its writes land while the logs are folded, and wait (503) only while the new set is published.
        var acknowledged = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var writes = Task.Run(async () =>
        {
            for (int n = 0; !stop.IsCancellationRequested; n++)
            {
                try
                {
                    await writer.WriteAsync([new ItemChange($"during-{n}", Query(100 + n % 500))]);
                    acknowledged.Enqueue($"during-{n}");
                }
                catch (VectorRecall.Retrieval.RetrieverUnavailableException) { }   // while the new generation is published: a client retries
            }
        });
        for (var waited = Stopwatch.StartNew(); Volatile.Read(ref searches) == 0 || acknowledged.Count == 0; await Task.Delay(10))
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(30), "searches and writes under way before the compaction");
        var done = await writer.CompactAsync(resume: false, CancellationToken.None);
        int during = acknowledged.Count;
        for (var waited = Stopwatch.StartNew(); acknowledged.Count == during; await Task.Delay(10))
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(30), "writes go on after the compaction");
        stop.Cancel();
        await Task.WhenAll([.. load, writes]);
        Assert.Equal(0, wrong);
        // Every acknowledged write is in the new generation, whether it was folded or carried over.
        Assert.All(await writer.WriteAsync([.. acknowledged.Select(key => new ItemChange(key, null))]), r => Assert.True(r.Found, r.Key));
        Assert.Equal(1L, done.Generation);
        Assert.True(done.LiveItems >= 1 && done.DeletedItems == 1, $"{done.LiveItems} live items, {done.DeletedItems} deleted folded");
        Assert.Equal((12, 12), (done.ReplicasReloaded, done.Replicas));
        for (int s = 0; s < Set.Shards; s++)
            for (int r = 0; r < 2; r++)
                Assert.Equal(1, (await Cluster.Client.GetGrain<IShardGrain>(s, ShardedSearch.ReplicaName(r)).Status()).Generation);

        // Writes go on into the new generation: the old item keeps its row and can be deleted, a new one is recalled.
        var again = await writer.WriteAsync([new ItemChange("pre-item", null), new ItemChange("post-item", Beating(query))]);
        Assert.True(again[0].Found);
        // Both replicas are asked in turn. A replica that took longer than the writer's deadline to apply a change (the
        // test host's thread pool is shared with other tests' work) reads it from the log within a second: allow that.
        var answer = await router.SearchAsync(query, 10);
        for (var settling = Stopwatch.StartNew(); (answer.Rows[0] != again[1].Row || answer.Rows.Contains(before[0].Row)) && settling.Elapsed < TimeSpan.FromSeconds(5); )
        {
            await Task.Delay(100);
            answer = await router.SearchAsync(query, 10);
        }
        Assert.Equal(again[1].Row, answer.Rows[0]);
        Assert.Equal("post-item", answer.LiveKeys![0]);
        Assert.DoesNotContain(before[0].Row, answer.Rows);

        // Sealed by a compaction that stopped after closing the writers' logs: writes wait, a second compaction is refused unless it resumes.
        Assert.True(ShardUpdateLog.Seal(Set.Directory));
        for (int s = 0; s < Set.Shards; s++) await Cluster.Client.GetGrain<IShardWriterGrain>(s).Seal();
        await Assert.ThrowsAsync<VectorRecall.Retrieval.RetrieverUnavailableException>(() => writer.WriteAsync([new ItemChange("during", Beating(query))]));
        await Assert.ThrowsAsync<ShardSetSealedException>(() => writer.CompactAsync(resume: false, CancellationToken.None));
        Assert.Equal(2, (await writer.CompactAsync(resume: true, CancellationToken.None)).Generation);
        Assert.False((await writer.WriteAsync([new ItemChange("during", Beating(query))]))[0].Found);
    }
}
