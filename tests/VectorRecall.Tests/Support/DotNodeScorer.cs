using VectorRecall.Numerics;
using VectorRecall.Retrieval;
using VectorRecall.Tdm;

namespace VectorRecall.Tests;

/// <summary>Scores a tree node by the inner product of its row in <paramref name="table"/> with the query (the tree tests' plain scorer).</summary>
internal sealed class DotNodeScorer(Tensor table) : INodeScorer
{
    public void Score(ReadOnlySpan<float> query, ReadOnlySpan<int> nodes, Span<float> scores)
    {
        for (int i = 0; i < nodes.Length; i++) scores[i] = Distances.Dot(query, table.Row(nodes[i]));
    }

    /// <summary>The ancestor of <paramref name="node"/> (a leaf) on <paramref name="level"/>.</summary>
    public static int Ancestor(ItemTree tree, int node, int level)
    {
        for (int l = tree.Depth; l > level; l--) node = tree.Parent(node);
        return node;
    }
}
