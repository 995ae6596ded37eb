namespace VectorRecall.Indexing;

/// <summary>
/// Given with a search (<see cref="SearchOptions.Partial"/>) by a caller that takes an answer from the parts of a
/// retriever that are up — a shard cluster with a shard that has no live replica — instead of no answer: the retriever
/// answers from the rest and names the parts left out here. Retrievers without parts never fill it.
/// </summary>
public sealed class PartialAnswer
{
    /// <summary>The parts (shards) whose items are missing from the answer; empty when it is whole.</summary>
    public int[] Missing { get; set; } = [];

    /// <summary>Whether some part's items are missing.</summary>
    public bool IsPartial => Missing.Length > 0;
}
