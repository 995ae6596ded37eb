namespace VectorRecall.Cluster;

/// <summary>
/// One query as a shard sees it: the user's vector, how many items to return, the search width (0: the index's own) and
/// the item rows to leave out (the user's seen items, as rows of the shard set's bundle; null: none).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ShardQuery([property: Id(0)] float[] Vector, [property: Id(1)] int K, [property: Id(2)] int Ef = 0, [property: Id(3)] int[]? ExcludedRows = null);

/// <summary>A shard's (or the merged) answer: item rows of the shard set's bundle and their scores, best first.</summary>
[GenerateSerializer, Immutable]
public sealed record ShardHits([property: Id(0)] long[] Rows, [property: Id(1)] float[] Scores)
{
    public static readonly ShardHits Empty = new([], []);
    public int Count => Rows.Length;
}

/// <summary>A replica's identity and place: its shard, replica name, the silo hosting it and the items it serves.</summary>
[GenerateSerializer, Immutable]
public sealed record ShardStatus([property: Id(0)] int Shard, [property: Id(1)] string Replica, [property: Id(2)] string Silo, [property: Id(3)] int Items);
