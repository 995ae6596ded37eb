using System.Runtime.InteropServices;
using VectorRecall.IO;
using VectorRecall.Numerics;
using VectorRecall.Retrieval;

namespace VectorRecall.Tdm;

/// <summary>
/// A tree whose leaves are the items, all on the last level, with an embedding per node. Nodes are
/// named by heap codes: the root is 0 and node c's children are b·c + 1 … b·c + b for branch b, so
/// a level-ℓ code lies in [(bˡ − 1)/(b − 1), (bˡ⁺¹ − 1)/(b − 1)). Only nodes with items below them
/// exist. They are stored as rows in ascending code order, which puts each level in one block of
/// rows and each node's children in one run of rows, the layout <see cref="BeamSearch"/> walks.
/// </summary>
public sealed class ItemTree : ISearchTree
{
    internal const string FileKind = "tdm-tree";

    private readonly int[] _levelStart, _parent, _childStart, _leafItem, _itemLeaf;

    /// <summary>
    /// The tree whose leaf for item i has code <paramref name="leafCodes"/>[i] (every code on level
    /// <paramref name="depth"/>, no two equal); its nodes are the leaves and all their ancestors.
    /// Its embeddings start as zeros of width <paramref name="dimension"/>; <see cref="SetLeafEmbeddings"/> fills them.
    /// </summary>
    public static ItemTree FromLeafCodes(int branch, int depth, ReadOnlySpan<long> leafCodes, int dimension)
    {
        if (branch < 2) throw new ArgumentOutOfRangeException(nameof(branch), $"branch must be at least 2, got {branch}");
        var set = new HashSet<long>();
        foreach (long leaf in leafCodes)
            for (long c = leaf; set.Add(c) && c > 0; c = (c - 1) / branch) { }
        var codes = set.ToArray();
        Array.Sort(codes);
        var items = new int[codes.Length];
        Array.Fill(items, -1);
        for (int i = 0; i < leafCodes.Length; i++)
        {
            int row = Array.BinarySearch(codes, leafCodes[i]);
            if (items[row] != -1) throw new ArgumentException($"items {items[row]} and {i} share leaf code {leafCodes[i]}");
            items[row] = i;
        }
        return new ItemTree(branch, depth, codes, items, new Tensor(codes.Length, dimension), "the tree");
    }

    /// <summary>A tree from its stored arrays (node codes ascending, each node's item or −1); <paramref name="source"/> names the file in errors.</summary>
    internal static ItemTree FromArrays(int branch, int depth, long[] codes, int[] leafItems, Tensor embeddings, string source) =>
        new(branch, depth, codes, leafItems, embeddings, source);

    private ItemTree(int branch, int depth, long[] codes, int[] leafItem, Tensor embeddings, string source)
    {
        if (branch < 2) throw new FileFormatException(source, $"branch must be at least 2, got {branch}");
        if (depth < 1 || depth > MaxDepth(branch)) throw new FileFormatException(source, $"depth {depth} is outside [1, {MaxDepth(branch)}] for branch {branch}");
        if (codes.Length != leafItem.Length) throw new FileFormatException(source, $"{codes.Length} node codes but {leafItem.Length} leaf entries");
        if (embeddings.Rows != codes.Length) throw new FileFormatException(source, $"{codes.Length} nodes but {embeddings.Rows} embedding rows");
        Branch = branch;
        Depth = depth;
        Codes = codes;
        Embeddings = embeddings;
        _leafItem = leafItem;
        _levelStart = new int[depth + 2];
        _parent = new int[codes.Length];
        _childStart = new int[codes.Length + 1];
        if (codes.Length == 0 || codes[0] != 0) throw new FileFormatException(source, "the tree has no root (code 0)");
        for (int r = 1; r < codes.Length; r++)
            if (codes[r] <= codes[r - 1]) throw new FileFormatException(source, $"node codes are not strictly ascending at row {r} ({codes[r - 1]}, {codes[r]})");
        // Levels: the first row whose code reaches each level's first code.
        for (int level = 0, r = 0; level <= depth + 1; level++)
        {
            long first = LevelFirstCode(level);
            while (r < codes.Length && codes[r] < first) r++;
            _levelStart[level] = r;
        }
        if (_levelStart[depth + 1] != codes.Length) throw new FileFormatException(source, $"node code {codes[^1]} lies below the last level {depth}");
        // Parents: each level's rows are ascending, so their parents' codes are too; walk both in step.
        _parent[0] = -1;
        for (int level = 1; level <= depth; level++)
        {
            int p = _levelStart[level - 1];
            for (int r = _levelStart[level]; r < _levelStart[level + 1]; r++)
            {
                long parentCode = (codes[r] - 1) / branch;
                while (p < _levelStart[level] && codes[p] < parentCode) p++;
                if (p == _levelStart[level] || codes[p] != parentCode) throw new FileFormatException(source, $"node {codes[r]} has no parent node {parentCode}");
                _parent[r] = p;
            }
        }
        // Children: every parent's children are one run of rows on the next level, runs in parent order.
        Array.Fill(_childStart, -1);
        for (int r = codes.Length - 1; r >= 1; r--) _childStart[_parent[r]] = r;
        _childStart[codes.Length] = codes.Length;
        for (int r = _levelStart[depth]; r < codes.Length; r++) _childStart[r] = codes.Length;
        for (int r = 0; r < _levelStart[depth]; r++)
            if (_childStart[r] < 0) throw new FileFormatException(source, $"internal node {codes[r]} has no children");
        ItemCount = LeafCount;
        _itemLeaf = new int[ItemCount];
        Array.Fill(_itemLeaf, -1);
        for (int r = 0; r < codes.Length; r++)
        {
            int item = leafItem[r];
            bool leaf = r >= _levelStart[depth];
            if (!leaf && item != -1) throw new FileFormatException(source, $"internal node {codes[r]} carries item {item}");
            if (leaf && (uint)item >= (uint)ItemCount) throw new FileFormatException(source, $"leaf {codes[r]} has item {item}, outside [0, {ItemCount})");
            if (!leaf) continue;
            if (_itemLeaf[item] != -1) throw new FileFormatException(source, $"item {item} is on two leaves");
            _itemLeaf[item] = r;
        }
    }

    public int Branch { get; }
    /// <summary>The leaves' level; the root is level 0.</summary>
    public int Depth { get; }
    public int ItemCount { get; }
    public int NodeCount => Codes.Length;
    public int LevelCount => Depth + 1;
    public int MaxChildren => Branch;
    /// <summary>Heap code of each node row.</summary>
    public long[] Codes { get; }
    /// <summary>One row per node: leaves start as item embeddings, every other node as the mean of its children.</summary>
    public Tensor Embeddings { get; }
    public int Dimension => Embeddings.Cols;
    private int LeafCount => _levelStart[Depth + 1] - _levelStart[Depth];

    public int LevelStart(int level) => _levelStart[level];
    public int LevelSize(int level) => _levelStart[level + 1] - _levelStart[level];
    public int ChildStart(int node) => _childStart[node];
    public int ChildCount(int node) => _childStart[node + 1] - _childStart[node];
    public int Parent(int node) => _parent[node];
    /// <summary>The item on a leaf row; −1 for an internal node.</summary>
    public int LeafItem(int node) => _leafItem[node];
    /// <summary>The leaf row of an item.</summary>
    public int LeafOf(int item) => _itemLeaf[item];

    /// <summary>The first heap code of a level: (bˡ − 1)/(b − 1).</summary>
    internal long LevelFirstCode(int level)
    {
        long code = 0;
        for (int l = 0; l < level; l++) code = code * Branch + 1;
        return code;
    }

    /// <summary>The deepest tree whose codes fit in a long.</summary>
    internal static int MaxDepth(int branch) => (int)Math.Floor(62 / Math.Log2(branch));

    /// <summary>The smallest depth whose last level has room for <paramref name="items"/> leaves.</summary>
    public static int DepthFor(int items, int branch)
    {
        int depth = 1;
        for (long capacity = branch; capacity < items; capacity *= branch) depth++;
        return depth;
    }

    /// <summary>Node embeddings recomputed bottom-up from leaf embeddings (row i = item i): each internal node is the mean of its children.</summary>
    public void SetLeafEmbeddings(Tensor itemEmbeddings)
    {
        if (itemEmbeddings.Rows != ItemCount || itemEmbeddings.Cols != Dimension)
            throw new ArgumentException($"leaf embeddings are {itemEmbeddings}, expected [{ItemCount} x {Dimension}]");
        for (int item = 0; item < ItemCount; item++) itemEmbeddings.Row(item).CopyTo(Embeddings.Row(_itemLeaf[item]));
        for (int r = _levelStart[Depth] - 1; r >= 0; r--)
        {
            var mean = Embeddings.Row(r);
            mean.Clear();
            int start = ChildStart(r), count = ChildCount(r);
            for (int c = start; c < start + count; c++) TensorPrimitives.Add(mean, Embeddings.Row(c), mean);
            TensorPrimitives.Multiply(mean, 1f / count, mean);
        }
    }

    /// <summary>The learned leaf embeddings in item order ([items × dim]), from a node table laid out like this tree.</summary>
    public Tensor LeafEmbeddings(Tensor nodeEmbeddings)
    {
        if (nodeEmbeddings.Rows != NodeCount) throw new ArgumentException($"node table has {nodeEmbeddings.Rows} rows, the tree {NodeCount} nodes");
        var leaves = new Tensor(ItemCount, nodeEmbeddings.Cols);
        for (int item = 0; item < ItemCount; item++) nodeEmbeddings.Row(_itemLeaf[item]).CopyTo(leaves.Row(item));
        return leaves;
    }

    /// <summary>Writes the tree and its node embeddings to a versioned, checksummed file (temporary name, then renamed).</summary>
    public void Save(string path) => AtomicFile.Write(path, stream =>
    {
        var header = new IndexFile.Header(FileKind, 0, Dimension, ItemCount, new Dictionary<string, long>
        {
            ["branch"] = Branch, ["depth"] = Depth, ["nodes"] = NodeCount,
        });
        var w = new IndexFile.Writer(stream, header);
        w.Section("codes", MemoryMarshal.AsBytes(Codes.AsSpan()));
        w.Section("leaf_items", MemoryMarshal.AsBytes(_leafItem.AsSpan()));
        w.Section("embeddings", MemoryMarshal.AsBytes(Embeddings.Span));
        w.Finish();
    });

    /// <summary>Reads a tree written by <see cref="Save"/>, checking the checksum and that the nodes form a valid tree.</summary>
    public static ItemTree Load(string path)
    {
        using var r = new IndexFile.Reader(path, FileKind);
        var h = r.Header;
        long branch = h.Parameter("branch", path), depth = h.Parameter("depth", path), nodes = h.Parameter("nodes", path);
        if (branch is < 2 or > int.MaxValue || depth is < 1 or > 62) throw new FileFormatException(path, $"header gives branch {branch} and depth {depth}");
        if (nodes < h.Count || nodes > 4 * h.Count + 64 || nodes * h.Dimension > int.MaxValue)
            throw new FileFormatException(path, $"header gives {nodes} nodes for {h.Count} items of dimension {h.Dimension}");
        r.EnsureAvailable(nodes * (sizeof(long) + sizeof(int) + (long)h.Dimension * sizeof(float)), "tree nodes");
        var codes = new long[nodes];
        var leafItems = new int[nodes];
        var embeddings = new Tensor((int)nodes, h.Dimension);
        r.Section("codes", MemoryMarshal.AsBytes(codes.AsSpan()));
        r.Section("leaf_items", MemoryMarshal.AsBytes(leafItems.AsSpan()));
        r.Section("embeddings", MemoryMarshal.AsBytes(embeddings.Span));
        r.Finish();
        var tree = new ItemTree((int)branch, (int)depth, codes, leafItems, embeddings, path);
        if (tree.ItemCount != h.Count) throw new FileFormatException(path, $"header gives {h.Count} items, the leaves hold {tree.ItemCount}");
        return tree;
    }
}
