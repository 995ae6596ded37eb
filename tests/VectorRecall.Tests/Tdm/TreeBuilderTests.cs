using VectorRecall.IO;
using VectorRecall.Numerics;
using VectorRecall.Tdm;

namespace VectorRecall.Tests.Tdm;

public class TreeBuilderTests
{
    private static Tensor Points(int n, int dim, ulong seed) => Tensor.Randn(new Rng(seed), 1f, n, dim);

    /// <summary>Items under each node, counted from the leaves up.</summary>
    private static int[] SubtreeSizes(ItemTree tree)
    {
        var size = new int[tree.NodeCount];
        for (int item = 0; item < tree.ItemCount; item++)
            for (int node = tree.LeafOf(item); node >= 0; node = tree.Parent(node)) size[node]++;
        return size;
    }

    [Theory]
    [InlineData(TreeBuildMode.KMeans, 2, 1000)]
    [InlineData(TreeBuildMode.KMeans, 2, 777)]
    [InlineData(TreeBuildMode.KMeans, 3, 500)]
    [InlineData(TreeBuildMode.Random, 2, 333)]
    [InlineData(TreeBuildMode.Category, 4, 250)]
    public void EveryItemIsOneLeafOnTheLastLevelAndSiblingsDifferByAtMostOne(TreeBuildMode mode, int branch, int n)
    {
        var categories = Enumerable.Range(0, n).Select(i => (i * 7) % 5).ToArray();
        var tree = TreeBuilder.Build(Points(n, 8, 1), new TreeBuildOptions { Mode = mode, Branch = branch }, categories);
        Assert.Equal(n, tree.ItemCount);
        Assert.Equal(ItemTree.DepthFor(n, branch), tree.Depth);
        var leaves = Enumerable.Range(0, n).Select(tree.LeafOf).ToArray();
        Assert.Equal(n, leaves.Distinct().Count());
        Assert.All(leaves, leaf => Assert.True(leaf >= tree.LevelStart(tree.Depth)));
        Assert.All(Enumerable.Range(0, n), item => Assert.Equal(item, tree.LeafItem(tree.LeafOf(item))));
        var size = SubtreeSizes(tree);
        for (int node = 0; node < tree.LevelStart(tree.Depth); node++)
        {
            var children = Enumerable.Range(tree.ChildStart(node), tree.ChildCount(node)).Select(c => size[c]).ToArray();
            if (size[node] >= branch) Assert.Equal(branch, children.Length);
            Assert.True(children.Max() - children.Min() <= 1, $"node {tree.Codes[node]}: children hold {string.Join(", ", children)} items");
            for (int c = tree.ChildStart(node); c < tree.ChildStart(node) + tree.ChildCount(node); c++)
            {
                Assert.Equal(node, tree.Parent(c));
                Assert.Equal(tree.Codes[node] * branch + 1 + (c - tree.ChildStart(node)), tree.Codes[c]);
            }
        }
    }

    [Fact]
    public void NodeEmbeddingsAreTheMeansOfTheirChildren()
    {
        var items = Points(100, 4, 2);
        var tree = TreeBuilder.Build(items, new TreeBuildOptions());
        for (int item = 0; item < 100; item++) Assert.Equal(items.Row(item).ToArray(), tree.Embeddings.Row(tree.LeafOf(item)).ToArray());
        for (int node = 0; node < tree.LevelStart(tree.Depth); node++)
        {
            var mean = new float[4];
            for (int c = tree.ChildStart(node); c < tree.ChildStart(node) + tree.ChildCount(node); c++)
                for (int j = 0; j < 4; j++) mean[j] += tree.Embeddings[c, j] / tree.ChildCount(node);
            for (int j = 0; j < 4; j++) Assert.Equal(mean[j], tree.Embeddings[node, j], 4);
        }
    }

    [Fact]
    public void KMeansSplitsSeparateClusters()
    {
        // Two far-apart blobs of 64 items: the root's two subtrees must be exactly the blobs.
        var items = Points(128, 4, 3);
        for (int i = 64; i < 128; i++) items[i, 0] += 100;
        var tree = TreeBuilder.Build(items, new TreeBuildOptions());
        int Side(int item) { int node = tree.LeafOf(item); while (tree.Parent(node) != 0) node = tree.Parent(node); return node; }
        Assert.Single(Enumerable.Range(0, 64).Select(Side).Distinct());
        Assert.Single(Enumerable.Range(64, 64).Select(Side).Distinct());
        Assert.NotEqual(Side(0), Side(64));
    }

    [Fact]
    public void CategoryModeKeepsACategoryTogether()
    {
        var categories = Enumerable.Range(0, 64).Select(i => i % 4).ToArray();
        var tree = TreeBuilder.Build(Points(64, 4, 4), new TreeBuildOptions { Mode = TreeBuildMode.Category }, categories);
        // 16 items per category in a tree of 64 leaves: each category fills one level-2 subtree.
        for (int c = 0; c < 4; c++)
        {
            var ancestors = Enumerable.Range(0, 64).Where(i => categories[i] == c).Select(i =>
            {
                int node = tree.LeafOf(i);
                while (node >= tree.LevelStart(3)) node = tree.Parent(node);
                return node;
            }).Distinct();
            Assert.Single(ancestors);
        }
    }

    [Fact]
    public void SavedTreeReadsBackAndCorruptionIsRefused()
    {
        using var dir = new TempDir();
        var tree = TreeBuilder.Build(Points(300, 6, 5), new TreeBuildOptions { Branch = 3 });
        string path = dir.File("tree.bin");
        tree.Save(path);
        var back = ItemTree.Load(path);
        Assert.Equal(tree.Codes, back.Codes);
        Assert.Equal(tree.Embeddings.ToArray(), back.Embeddings.ToArray());
        Assert.Equal(Enumerable.Range(0, 300).Select(tree.LeafOf), Enumerable.Range(0, 300).Select(back.LeafOf));

        var bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 0x5A;
        File.WriteAllBytes(dir.File("flipped.bin"), bytes);
        Assert.Throws<FileFormatException>(() => ItemTree.Load(dir.File("flipped.bin")));
        File.WriteAllBytes(dir.File("cut.bin"), bytes[..(bytes.Length / 3)]);
        Assert.Throws<FileFormatException>(() => ItemTree.Load(dir.File("cut.bin")));
        File.WriteAllText(dir.File("text.bin"), "not a tree");
        Assert.Contains("text.bin", Assert.Throws<FileFormatException>(() => ItemTree.Load(dir.File("text.bin"))).Message);
    }

    [Fact]
    public void BadInputIsRefusedWithAReason()
    {
        var nan = Points(10, 3, 6);
        nan[4, 1] = float.NaN;
        Assert.Contains("item 4", Assert.Throws<ArgumentException>(() => TreeBuilder.Build(nan, new TreeBuildOptions())).Message);
        Assert.Throws<ArgumentException>(() => TreeBuilder.Build(Points(1, 3, 6), new TreeBuildOptions()));
        Assert.Equal("Branch", Assert.Throws<SettingException>(() => TreeBuilder.Build(Points(10, 3, 6), new TreeBuildOptions { Branch = 1 })).Property);
        Assert.Contains("category", Assert.Throws<ArgumentException>(() => TreeBuilder.Build(Points(10, 3, 6), new TreeBuildOptions { Mode = TreeBuildMode.Category }, [1, 2])).Message);
    }

    [Fact]
    public void KMeansFindsSeparatedCentroids()
    {
        var points = Points(300, 2, 7);
        for (int i = 0; i < 300; i++) { points[i, 0] += (i % 3) * 50; points[i, 1] -= (i % 3) * 50; }
        var fit = KMeans.Fit(points, 3, 50, new Rng(1));
        for (int i = 3; i < 300; i++) Assert.Equal(fit.Assignment[i % 3], fit.Assignment[i]);
        Assert.Equal(3, fit.Assignment.Distinct().Count());
    }
}
