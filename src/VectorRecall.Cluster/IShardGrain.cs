namespace VectorRecall.Cluster;

/// <summary>
/// Serves one shard of a shard set: its key is the shard's number, its key extension the replica's name
/// (<see cref="ShardedSearch.ReplicaName"/>). It loads the shard's index when it is activated.
/// </summary>
public interface IShardGrain : IGrainWithIntegerCompoundKey
{
    /// <summary>The shard's best <see cref="ShardQuery.K"/> items for the query, best first (fewer when the shard holds fewer).</summary>
    Task<ShardHits> Search(ShardQuery query);
}
