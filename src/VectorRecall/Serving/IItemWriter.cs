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
}
