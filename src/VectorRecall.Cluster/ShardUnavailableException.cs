using VectorRecall.Retrieval;

namespace VectorRecall.Cluster;

/// <summary>No replica of a shard answered within its deadline: a full answer cannot be given.</summary>
public sealed class ShardUnavailableException(int shard, int replicas, Exception? last)
    : RetrieverUnavailableException($"shard {shard}: none of its {replicas} replica(s) answered{(last is null ? "" : $" (last: {last.GetType().Name}: {last.Message})")}", last)
{
    public int Shard { get; } = shard;
}
