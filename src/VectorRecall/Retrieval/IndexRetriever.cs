using VectorRecall.Indexing;

namespace VectorRecall.Retrieval;

/// <summary>A vector index as a retriever (exact search or HNSW over item vectors); it owns the index and disposes it.</summary>
public sealed class IndexRetriever(IVectorIndex index, string? name = null) : IRetriever
{
    public IVectorIndex Index { get; } = index;
    public string Name { get; } = name ?? index switch { HnswIndex => "hnsw", FlatIndex => "flat", _ => index.GetType().Name };
    public int Dimension => Index.Dimension;
    public int ItemCount => Index.Count;

    public int Search(ReadOnlySpan<float> query, int k, Span<long> ids, Span<float> scores, SearchOptions? options = null) =>
        Index.Search(query, k, ids, scores, options);

    public void SearchBatch(ReadOnlySpan<float> queries, int k, Span<long> ids, Span<float> scores, Span<int> counts, IReadOnlyList<SearchOptions?>? options = null) =>
        Index.SearchBatch(queries, k, ids, scores, counts, options);

    public void Dispose() => Index.Dispose();
}
