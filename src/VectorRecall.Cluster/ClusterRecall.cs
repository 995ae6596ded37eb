namespace VectorRecall.Cluster;

/// <summary>
/// A sharded search's answer: item rows of the shard set's bundle and their scores, best first, and the shards that
/// could not answer (empty unless partial answers were allowed and a shard had no live replica).
/// </summary>
public sealed record ClusterRecall(long[] Rows, float[] Scores, int[] MissingShards)
{
    /// <summary>Whether some shard's items are missing from the answer.</summary>
    public bool Partial => MissingShards.Length > 0;
}
