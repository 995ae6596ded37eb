namespace VectorRecall.Serving;

/// <summary>
/// Accepts item changes while serving (a shard cluster's live items): each change durable when the call completes.
/// Refuses a malformed change with an <see cref="ArgumentException"/> before writing anything, and throws
/// <see cref="Retrieval.RetrieverUnavailableException"/> when a part that must take a change cannot be reached.
/// </summary>
public interface IItemWriter
{
    /// <summary>Width of the item vectors it takes.</summary>
    int Dimension { get; }

    /// <summary>Writes the changes (a null vector deletes the item); one result per change, in order.</summary>
    Task<ItemChangeResult[]> WriteAsync(IReadOnlyList<ItemChange> changes);

    /// <summary>
    /// Folds the changes written so far into the stored items (a shard set's compaction in place), pausing writes while it
    /// runs; reads go on. Throws <see cref="ShardSetSealedException"/> when another compaction holds the writers, unless
    /// <paramref name="resume"/> (that compaction stopped and is finished by this one).
    /// </summary>
    Task<ItemCompaction> CompactAsync(bool resume, CancellationToken cancel);
}

/// <summary>What a compaction published: the set's new generation, the live items and deletions it folded in, how many replicas loaded it at once (the others within a second), and how long writes were paused.</summary>
public sealed record ItemCompaction(long Generation, long LiveItems, long DeletedItems, int ReplicasReloaded, int Replicas, double PausedSeconds);
