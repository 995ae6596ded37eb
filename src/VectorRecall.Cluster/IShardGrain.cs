namespace VectorRecall.Cluster;

/// <summary>
/// Serves one shard of a shard set: its key is the shard's number, its key extension the replica's name
/// (<see cref="ShardedSearch.ReplicaName"/>: r0, r1, …). It loads the shard's index when it is activated.
/// </summary>
public interface IShardGrain : IGrainWithIntegerCompoundKey
{
    /// <summary>The shard's best <see cref="ShardQuery.K"/> items for the query, best first (fewer when the shard holds fewer).</summary>
    Task<ShardHits> Search(ShardQuery query);

    /// <summary>
    /// Applies a shard writer's log entries (ones applied already are skipped; a gap is filled from the log file). Entries
    /// of another generation of the set mean it was compacted: the replica loads the new generation, which holds them.
    /// </summary>
    Task Apply(ShardUpdates updates);

    /// <summary>Loads the set's generation on disk if this replica serves another (after a compaction in place), answering on with the old one meanwhile; returns the generation it serves once done.</summary>
    Task<long> Reload();

    /// <summary>Which shard and replica this is, the silo it runs on and how many items it holds (activating it if it is not yet).</summary>
    Task<ShardStatus> Status();
}

/// <summary>
/// The one writer of a shard's log (key: the shard's number): it writes changes to the log, flushed to disk before it
/// answers, and passes them to the shard's replicas.
/// </summary>
public interface IShardWriterGrain : IGrainWithIntegerKey
{
    /// <summary>Writes <paramref name="changes"/> (all owned by this shard), in order; answers once they are durable.</summary>
    Task<ShardChangeResult[]> Write(ShardChange[] changes);

    /// <summary>Closes the shard's log after the writes before it, for a compaction: the next write opens the log again, once the set is no longer sealed.</summary>
    Task Seal();
}
