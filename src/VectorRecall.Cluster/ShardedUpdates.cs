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
