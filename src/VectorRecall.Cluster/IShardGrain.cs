namespace VectorRecall.Cluster;

/// <summary>
/// Serves one shard of a shard set: its key is the shard's number, its key extension the replica's name
/// (<see cref="ShardedSearch.ReplicaName"/>: r0, r1, …). It loads the shard's index when it is activated.
/// </summary>
public interface IShardGrain : IGrainWithIntegerCompoundKey
{
    /// <summary>The shard's best <see cref="ShardQuery.K"/> items for the query, best first (fewer when the shard holds fewer).</summary>
    Task<ShardHits> Search(ShardQuery query);

    /// <summary>Which shard and replica this is, the silo it runs on and how many items it holds (activating it if it is not yet).</summary>
    Task<ShardStatus> Status();
}
