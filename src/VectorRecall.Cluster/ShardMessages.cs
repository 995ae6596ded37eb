using VectorRecall.Serving;

namespace VectorRecall.Cluster;

/// <summary>
/// One query as a shard sees it: the user's vector, how many items to return, the search width (0: the index's own), the
/// item rows to leave out (the user's seen items, as rows of the shard set's bundle; null: none) and an HNSW walk's
/// patience (0: none; <see cref="VectorRecall.Indexing.SearchOptions.Patience"/>).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ShardQuery([property: Id(0)] float[] Vector, [property: Id(1)] int K, [property: Id(2)] int Ef = 0, [property: Id(3)] int[]? ExcludedRows = null, [property: Id(4)] int Patience = 0);

/// <summary>
/// A shard's (or the merged) answer: item rows and their scores, best first, and for live items (rows past the bundle's,
/// added while serving) their ids; <see cref="Keys"/> is null when every row is one of the bundle's.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ShardHits([property: Id(0)] long[] Rows, [property: Id(1)] float[] Scores, [property: Id(2)] string?[]? Keys = null)
{
    public static readonly ShardHits Empty = new([], []);
    public int Count => Rows.Length;
}

/// <summary>A change for a shard's writer: the item's id and its vector, or no vector to delete it.</summary>
[GenerateSerializer, Immutable]
public sealed record ShardChange([property: Id(0)] string Key, [property: Id(1)] float[]? Vector);

/// <summary>What a shard's writer did with a change: the row, and whether the id was held (a delete of an unknown id changes nothing).</summary>
[GenerateSerializer, Immutable]
public sealed record ShardChangeResult([property: Id(0)] int Row, [property: Id(1)] bool Found);

/// <summary>Log entries for a replica to apply, numbered from <see cref="First"/> (see <see cref="VectorRecall.Serving.LiveShard"/>).</summary>
[GenerateSerializer, Immutable]
public sealed record ShardUpdates([property: Id(0)] long First, [property: Id(1)] ShardUpdate[] Entries, [property: Id(2)] long Generation = 0);

/// <summary>One log entry as it travels: its kind, row, item id and (for an upsert) vector.</summary>
[GenerateSerializer, Immutable]
public sealed record ShardUpdate([property: Id(0)] byte Kind, [property: Id(1)] int Row, [property: Id(2)] string Key, [property: Id(3)] float[]? Vector)
{
    public static ShardUpdate Of(ShardLogEntry e) => new((byte)e.Kind, e.Row, e.Key, e.Vector);
    public ShardLogEntry ToEntry() => new((ShardLogKind)Kind, Row, Key, Vector);
}

/// <summary>A replica's identity and place: its shard, replica name, the silo hosting it and the items it serves.</summary>
[GenerateSerializer, Immutable]
public sealed record ShardStatus([property: Id(0)] int Shard, [property: Id(1)] string Replica, [property: Id(2)] string Silo, [property: Id(3)] int Items, [property: Id(4)] long Generation = 0);
