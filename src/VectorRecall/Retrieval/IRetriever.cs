using VectorRecall.Indexing;

namespace VectorRecall.Retrieval;

/// <summary>
/// The search half of recall, one contract for every paradigm: the top K items for user vectors,
/// best first, with each query's exclusions applied inside the search (<see cref="SearchOptions.Filter"/>,
/// never by over-fetching) and its width (<see cref="SearchOptions.Ef"/>: HNSW's ef, a tree's beam).
/// Exact search and HNSW (<see cref="IndexRetriever"/>), TDM beam search and the semantic-id trie
/// implement it; the user vectors come from an <see cref="IUserEncoder"/>. Safe for concurrent searches.
/// </summary>
public interface IRetriever : IDisposable
{
    /// <summary>What the retriever is, for reports ("hnsw", "flat", "tdm", "semantic").</summary>
    string Name { get; }

    /// <summary>Width of the user vectors it takes.</summary>
    int Dimension { get; }

    /// <summary>Items it can return (ids 0 .. ItemCount − 1).</summary>
    int ItemCount { get; }

    /// <summary>The best <paramref name="k"/> items for one user vector into <paramref name="ids"/>/<paramref name="scores"/>; returns how many.</summary>
    int Search(ReadOnlySpan<float> query, int k, Span<long> ids, Span<float> scores, SearchOptions? options = null);

    /// <summary>
    /// As <see cref="Search"/>, for retrievers that wait on other processes (a shard cluster): the caller's thread is free
    /// while they answer. A retriever that computes in place answers at once (the default, which allocates nothing).
    /// </summary>
    ValueTask<int> SearchAsync(ReadOnlyMemory<float> query, int k, Memory<long> ids, Memory<float> scores, SearchOptions? options = null) =>
        new(Search(query.Span, k, ids.Span, scores.Span, options));

    /// <summary>
    /// Every row of <paramref name="queries"/> on all cores: row q's results at <c>[q·k ..]</c>, its count in
    /// <c>counts[q]</c> (slots past it hold −1 and NaN), its options <c>options[q]</c> (a null list or entry: the defaults).
    /// </summary>
    void SearchBatch(ReadOnlySpan<float> queries, int k, Span<long> ids, Span<float> scores, Span<int> counts, IReadOnlyList<SearchOptions?>? options = null);

    /// <summary>
    /// As <see cref="SearchBatch"/>, for retrievers that wait on other processes (a shard cluster): the caller's thread is
    /// free while they answer. A retriever that computes in place answers at once (the default).
    /// </summary>
    ValueTask SearchBatchAsync(ReadOnlyMemory<float> queries, int k, Memory<long> ids, Memory<float> scores, Memory<int> counts, IReadOnlyList<SearchOptions?>? options = null)
    {
        SearchBatch(queries.Span, k, ids.Span, scores.Span, counts.Span, options);
        return ValueTask.CompletedTask;
    }
}
