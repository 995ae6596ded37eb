using VectorRecall.Indexing;
using VectorRecall.Numerics;
using VectorRecall.Tdm;
using VectorRecall.Retrieval;

namespace VectorRecall.SemanticIds;

/// <summary>
/// Semantic ids as a retriever: the trie of the items' collision-free ids, walked by the same beam
/// search as the tree model. A node on level d stands for the sum of its prefix's d codewords; since
/// user vectors live in the items' space, not the RQ-VAE's latent one, that sum is decoded into item
/// space once per node, and a user scores a node by the inner product with it. Leaves are the items'
/// own vectors, so the last step ranks the surviving candidates exactly.
/// </summary>
public sealed class SemanticIdRetriever : INodeScorer, IRetriever
{
    private readonly Tensor _nodeVectors;
    private readonly BeamSearchRetriever _search;

    public SemanticIdRetriever(RqVae model, Tensor items, SemanticCodes codes, int beam)
    {
        if (codes.Count != items.Rows) throw new ArgumentException($"{codes.Count} ids for {items.Rows} items");
        if (items.Cols != model.Config.InDim) throw new ArgumentException($"the RQ-VAE takes {model.Config.InDim}-d vectors, the items are {items.Cols}-d");
        Trie = new SemanticIdTrie(codes);
        int levels = model.Quantizer.Levels;
        _nodeVectors = new Tensor(Trie.NodeCount, items.Cols);
        // Inner nodes (levels 1 … last − 1): their prefixes' codeword sums, decoded in one batch.
        int first = Trie.LevelStart(1), leaves = Trie.LevelStart(Trie.LevelCount - 1);
        var sums = new Tensor(Math.Max(1, leaves - first), model.Config.EDim);
        for (int node = first; node < leaves; node++)
        {
            int depth = Trie.DepthOf(node), item = Trie.RepresentativeItem(node);
            var prefix = codes.Of(item);
            for (int l = 0; l < Math.Min(depth, levels); l++)
                TensorPrimitives.Add(sums.Row(node - first), model.Quantizer.Codebook(l).Row(prefix[l]), sums.Row(node - first));
        }
        if (leaves > first) model.Decode(sums).Span.CopyTo(_nodeVectors.RowRange(first, leaves - first).Span);
        for (int node = leaves; node < Trie.NodeCount; node++) items.Row(Trie.LeafItem(node)).CopyTo(_nodeVectors.Row(node));
        _search = new BeamSearchRetriever(Name, Trie, this, items.Cols, items.Rows, beam);
    }

    internal SemanticIdTrie Trie { get; }
    public int Beam => _search.Beam;
    public string Name => "semantic";
    public int Dimension => _nodeVectors.Cols;
    public int ItemCount => _search.ItemCount;

    public void Score(ReadOnlySpan<float> query, ReadOnlySpan<int> nodes, Span<float> scores)
    {
        for (int i = 0; i < nodes.Length; i++) scores[i] = Distances.Dot(query, _nodeVectors.Row(nodes[i]));
    }

    public int Search(ReadOnlySpan<float> query, int k, Span<long> ids, Span<float> scores, SearchOptions? options = null) =>
        _search.Search(query, k, ids, scores, options);

    public void SearchBatch(ReadOnlySpan<float> queries, int k, Span<long> ids, Span<float> scores, Span<int> counts, IReadOnlyList<SearchOptions?>? options = null) =>
        _search.SearchBatch(queries, k, ids, scores, counts, options);

    public void Dispose() { }
}
