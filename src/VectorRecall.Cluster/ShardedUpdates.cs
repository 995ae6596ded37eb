using VectorRecall.Retrieval;
using VectorRecall.Serving;

namespace VectorRecall.Cluster;

/// <summary>
/// Sends item changes to the shards that own them (<see cref="ShardSet.OwnerOf"/>): each shard's writer
/// (<see cref="IShardWriterGrain"/>) writes its share to the shard's log, durable before it answers, and passes it to the
/// shard's replicas. Shards are written in parallel; one shard's changes keep their order.
/// </summary>
public sealed class ShardedUpdates(IGrainFactory grains, ShardSet set) : IItemWriter
{
    public int Dimension => set.Dimension;

    /// <summary>How long a shard's writer may take before the change is reported unavailable.</summary>
    public TimeSpan WriteDeadline { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Replicas per shard (told to load a compacted set at once).</summary>
    public int Replicas { get; init; } = 1;

    /// <summary>How long a replica may take to load a compacted set before the compaction answers without it (it loads on anyway).</summary>
    public TimeSpan ReloadDeadline { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Compacts the set in place while the cluster serves. The long step runs beside the writes: every shard's log, as far as
    /// it goes, is folded into the set's next generation beside the folder (<see cref="ShardSet.StageCompaction"/>). Then
    /// writes wait for the short one: the set is sealed (<see cref="ShardUpdateLog.Seal"/>), every shard writer closes its
    /// log, the changes logged since the fold are carried over and the new generation is renamed into place
    /// (<see cref="StagedCompaction.Publish"/>), which unseals it. Every replica is then told to load it (the contents are
    /// the same, so a replica still on the old one answers the same). Searches never wait. A failure before the new
    /// generation is published lifts the seal, and writes go on into the old logs.
    /// </summary>
    public async Task<ItemCompaction> CompactAsync(bool resume, CancellationToken cancel)
    {
        if (!resume && ShardUpdateLog.IsSealed(set.Directory)) throw new ShardSetSealedException(set.Directory);
        StagedCompaction staged;
        try { staged = await Task.Run(() => ShardSet.StageCompaction(set.Directory), cancel); }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new RetrieverUnavailableException($"the compaction failed ({e.GetType().Name}: {e.Message}); writes go on into the set as it was", e);
        }
        using var _ = staged;
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        if (!ShardUpdateLog.Seal(set.Directory) && !resume) throw new ShardSetSealedException(set.Directory);
        ShardSet next;
        try
        {
            await Task.WhenAll(Enumerable.Range(0, set.Shards).Select(s => grains.GetGrain<IShardWriterGrain>(s).Seal().WaitAsync(WriteDeadline, cancel)));
            next = await Task.Run(staged.Publish, CancellationToken.None);   // once begun, it finishes: a half-published set helps nobody
        }
        catch (Exception e)
        {
            ShardUpdateLog.Unseal(set.Directory);
            if (e is OperationCanceledException) throw;
            throw new RetrieverUnavailableException($"the compaction failed ({e.GetType().Name}: {e.Message}); writes go on into the set as it was", e);
        }
        double paused = System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds;
        var loaded = await Task.WhenAll(Enumerable.Range(0, set.Shards).SelectMany(s => Enumerable.Range(0, Replicas).Select(async r =>
        {
            try { return await grains.GetGrain<IShardGrain>(s, ShardedSearch.ReplicaName(r)).Reload().WaitAsync(ReloadDeadline, cancel) == next.Generation; }
            catch (Exception e) when (e is not OperationCanceledException) { return false; }   // it notices the new generation within a second
        })));
        return new ItemCompaction(next.Generation, next.LiveItems, next.DeletedItems, loaded.Count(ok => ok), loaded.Length, paused);
    }

    /// <summary>
    /// Writes <paramref name="changes"/>; each result names the shard and row, and whether the id was held before. A change
    /// with a vector of the wrong width, a value that is not finite, or an id that is empty or too long is refused
    /// (<see cref="ArgumentException"/>) before anything is written. A shard whose writer cannot be reached throws
    /// <see cref="RetrieverUnavailableException"/>: its changes may or may not be durable (writing them again is safe).
    /// </summary>
    public async Task<ItemChangeResult[]> WriteAsync(IReadOnlyList<ItemChange> changes)
    {
        ArgumentNullException.ThrowIfNull(changes);
        var byShard = new Dictionary<int, List<int>>();
        for (int i = 0; i < changes.Count; i++)
        {
            ShardLog.Check(changes[i].Key ?? "", changes[i].Vector, set.Dimension);   // every change refused before any shard writes
            int shard = ShardSet.OwnerOf(changes[i].Key, set.Shards);
            if (!byShard.TryGetValue(shard, out var list)) byShard[shard] = list = [];
            list.Add(i);
        }
        var results = new ItemChangeResult[changes.Count];
        await Task.WhenAll(byShard.Select(async pair =>
        {
            var (shard, indices) = pair;
            ShardChangeResult[] answers;
            try
            {
                answers = await grains.GetGrain<IShardWriterGrain>(shard)
                    .Write([.. indices.Select(i => new ShardChange(changes[i].Key, changes[i].Vector))]).WaitAsync(WriteDeadline);
            }
            catch (Exception e) when (e is not ArgumentException)
            {
                throw new RetrieverUnavailableException($"shard {shard}'s writer did not answer ({e.GetType().Name}: {e.Message}); write again", e);
            }
            for (int j = 0; j < indices.Count; j++)
                results[indices[j]] = new ItemChangeResult(changes[indices[j]].Key, shard, answers[j].Row, answers[j].Found);
        }));
        return results;
    }
}
