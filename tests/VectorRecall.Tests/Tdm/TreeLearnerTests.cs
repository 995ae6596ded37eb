using VectorRecall.Data;
using VectorRecall.Numerics;
using VectorRecall.Retrieval;
using VectorRecall.Tdm;

namespace VectorRecall.Tests.Tdm;

public class TreeLearnerTests
{
    /// <summary>
    /// A binary tree over <paramref name="items"/> items, item i on the i-th leaf, whose leaf embeddings are one-hot
    /// (leaf j's is e_j) and whose internal nodes are their children's means.
    /// </summary>
    private static ItemTree OneHotTree(int items)
    {
        int depth = ItemTree.DepthFor(items, 2);
        long first = (1L << depth) - 1;
        var tree = ItemTree.FromLeafCodes(2, depth, Enumerable.Range(0, items).Select(i => first + i).ToArray(), items);
        var leaves = new Tensor(items, items);
        for (int i = 0; i < items; i++) leaves[i, i] = 1;
        tree.SetLeafEmbeddings(leaves);
        return tree;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(7)]
    public void ItemsMoveToTheLeavesTheirUsersScoreBest(int gap)
    {
        // 8 items; item i's only user scores the path to leaf perm[i] highest (its vector is that leaf's one-hot
        // embedding), so the optimum puts item i under leaf perm[i]'s parent, which any level gap must find. Items
        // carry their own leaf embeddings, so the leaf level does not choose between siblings.
        int[] perm = [5, 2, 7, 0, 3, 6, 1, 4];
        var tree = OneHotTree(8);
        var users = new Tensor(8, 8);
        for (int i = 0; i < 8; i++) users[i, perm[i]] = 1;
        var interactions = UserItemLists.FromLists(Enumerable.Range(0, 8).Select(i => (IReadOnlyList<int>)[i]).ToArray());
        var learned = TreeLearner.Learn(tree, new DotNodeScorer(tree.Embeddings), users, interactions, new TreeLearningOptions { LevelGap = gap });
        for (int i = 0; i < 8; i++)
        {
            Assert.Equal(tree.Parent(tree.LevelStart(3) + perm[i]), learned.Parent(learned.LeafOf(i)));
            Assert.Equal(tree.Embeddings.Row(tree.LeafOf(i)).ToArray(), learned.Embeddings.Row(learned.LeafOf(i)).ToArray());
        }
        Assert.Equal(tree.Codes, learned.Codes);
        // Internal nodes are the means of their children again.
        for (int node = 0; node < learned.LevelStart(3); node++)
        {
            var mean = new float[8];
            for (int c = learned.ChildStart(node); c < learned.ChildStart(node) + learned.ChildCount(node); c++)
                for (int j = 0; j < 8; j++) mean[j] += learned.Embeddings[c, j] / learned.ChildCount(node);
            for (int j = 0; j < 8; j++) Assert.Equal(mean[j], learned.Embeddings[node, j], 5);
        }
    }

    [Fact]
    public void ANodeTakesNoMoreItemsThanItHasLeavesAndTheItemThatLosesMostByMovingChoosesFirst()
    {
        // Every user prefers leaf 0's branch, item 3's user three times as strongly as the others': item 3 gets the
        // level-2 node above leaf 0, and the rest still end on distinct leaves (the tree keeps its shape, one item per leaf).
        var tree = OneHotTree(6);
        var users = new Tensor(6, 6);
        for (int u = 0; u < 6; u++) { users[u, 0] = u == 3 ? 3 : 1; users[u, 1] = 0.5f; }
        var lists = Enumerable.Range(0, 6).Select(i => (IReadOnlyList<int>)[i]).ToArray();
        var learned = TreeLearner.Learn(tree, new DotNodeScorer(tree.Embeddings), users, UserItemLists.FromLists(lists), new TreeLearningOptions { LevelGap = 1 });
        Assert.Equal(tree.Parent(tree.LevelStart(tree.Depth)), learned.Parent(learned.LeafOf(3)));
        Assert.Equal(6, Enumerable.Range(0, 6).Select(learned.LeafOf).Distinct().Count());
    }

    [Fact]
    public void ALearnedTreeFromARandomOneRecoversTheClusters()
    {
        // 64 items in 8 clusters; users interact within one cluster and their vectors point at it. Starting from a
        // random tree whose leaves hold the cluster centres in cluster order, learning brings every cluster under one
        // level-3 node.
        var rng = new Rng(3);
        int items = 64, dim = 8;
        // The nodes: leaf j holds cluster j / 8's centre, so each level-3 node covers one cluster; the items start shuffled.
        var shuffled = Enumerable.Range(0, items).ToArray();
        rng.Shuffle(shuffled.AsSpan());
        var start = ItemTree.FromLeafCodes(2, 6, shuffled.Select(j => 63L + j).ToArray(), dim);
        var centres = new Tensor(items, dim);
        for (int i = 0; i < items; i++) centres[i, shuffled[i] / 8] = 1;
        start.SetLeafEmbeddings(centres);
        var lists = new List<IReadOnlyList<int>>();
        var users = new Tensor(items * 3, dim);
        for (int u = 0; u < items * 3; u++)
        {
            int item = u % items;
            lists.Add([item]);
            users[u, item / 8] = 1;
        }
        var learned = TreeLearner.Learn(start, new DotNodeScorer(start.Embeddings), users, UserItemLists.FromLists(lists), new TreeLearningOptions { LevelGap = 2 });
        for (int c = 0; c < 8; c++)
        {
            var parents = Enumerable.Range(c * 8, 8).Select(i => DotNodeScorer.Ancestor(learned, learned.LeafOf(i), 3)).Distinct().ToArray();
            Assert.Single(parents);
        }
    }

}
