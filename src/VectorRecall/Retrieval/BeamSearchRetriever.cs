using VectorRecall.Indexing;

namespace VectorRecall.Retrieval;

/// <summary>
/// A tree searched by <see cref="BeamSearch"/> as a retriever: TDM's item tree with its learned node
/// scorer, or the semantic-id trie with decoded codeword sums. The beam is the default width; a
/// search's <see cref="SearchOptions.Ef"/> overrides it; at least k is always used, so any top-K can be asked for.
/// </summary>
public sealed class BeamSearchRetriever : IRetriever
{
    private readonly ISearchTree _tree;
    private readonly INodeScorer _scorer;

    public BeamSearchRetriever(string name, ISearchTree tree, INodeScorer scorer, int dimension, int itemCount, int beam)
    {
        if (beam < 1) throw new ArgumentOutOfRangeException(nameof(beam), $"the beam must be at least 1, got {beam}");
        Name = name;
        _tree = tree;
        _scorer = scorer;
        Dimension = dimension;
        ItemCount = itemCount;
        Beam = beam;
    }

    public string Name { get; }
    public int Dimension { get; }
    public int ItemCount { get; }
    public int Beam { get; }

    public int Search(ReadOnlySpan<float> query, int k, Span<long> ids, Span<float> scores, SearchOptions? options = null)
    {
        if (query.Length != Dimension) throw new ArgumentException($"the query has {query.Length} values, the retriever takes {Dimension}");
        return BeamSearch.Search(_tree, _scorer, query, k, BeamSearch.WidthFor(options, Beam, k), ids, scores, options?.Filter);
    }

    public void SearchBatch(ReadOnlySpan<float> queries, int k, Span<long> ids, Span<float> scores, Span<int> counts, IReadOnlyList<SearchOptions?>? options = null) =>
        BeamSearch.SearchBatch(_tree, _scorer, queries, Dimension, k, Beam, ids, scores, counts, options);

    public void Dispose() { }
}
