namespace VectorRecall.Cluster;

/// <summary>
/// A sharded search's answer: item rows and their scores, best first; the shards that could not answer (empty unless
/// partial answers were allowed and a shard had no live replica); and the ids of live items (rows past the bundle's, added
/// while serving), null where every row is the bundle's.
/// </summary>
public sealed record ClusterRecall(long[] Rows, float[] Scores, int[] MissingShards, string?[]? LiveKeys = null)
{
    /// <summary>Whether some shard's items are missing from the answer.</summary>
    public bool Partial => MissingShards.Length > 0;
}
