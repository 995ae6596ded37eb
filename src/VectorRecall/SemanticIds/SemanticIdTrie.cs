using VectorRecall.Tdm;
using VectorRecall.Retrieval;

namespace VectorRecall.SemanticIds;

/// <summary>
/// The prefix tree of collision-free semantic ids, in the layout <see cref="BeamSearch"/> walks: the
/// root on level 0, on level d one node per distinct prefix of d codes (in lexicographic order, so
/// a node's children are one run of rows), and on the last level one leaf per item.
/// </summary>
internal sealed class SemanticIdTrie : ISearchTree
{
    private readonly int[] _levelStart, _childStart, _childCount, _leafItem, _representative;
    private readonly int _maxChildren;

    public SemanticIdTrie(SemanticCodes codes)
    {
        int n = codes.Count, positions = codes.Levels;
        if (n == 0) throw new ArgumentException("a trie needs at least one item");
        var order = Enumerable.Range(0, n).ToArray();
        Array.Sort(order, (a, b) =>
        {
            var x = codes.Of(a); var y = codes.Of(b);
            int c = x.SequenceCompareTo(y);
            return c != 0 ? c : a.CompareTo(b);
        });
        _levelStart = new int[positions + 2];
        var parentOfNode = new List<int> { -1 };
        var representative = new List<int> { order[0] };
        var previous = new int[n];  // the node on the level above that holds each sorted position
        var current = new int[n];
        int rows = 1;
        for (int depth = 1; depth <= positions; depth++)
        {
            _levelStart[depth] = rows;
            for (int p = 0; p < n; p++)
            {
                bool fresh = p == 0 || previous[p] != previous[p - 1] || codes.Of(order[p])[depth - 1] != codes.Of(order[p - 1])[depth - 1];
                if (!fresh && depth == positions)
                    throw new ArgumentException($"items {order[p - 1]} and {order[p]} have the same code: a trie needs collision-free ids (generate them first)");
                if (fresh)
                {
                    parentOfNode.Add(previous[p]);
                    representative.Add(order[p]);
                    rows++;
                }
                current[p] = rows - 1;
            }
            (previous, current) = (current, previous);
        }
        _levelStart[positions + 1] = rows;
        _childStart = new int[rows];
        _childCount = new int[rows];
        for (int node = rows - 1; node >= 1; node--)
        {
            int parent = parentOfNode[node];
            _childStart[parent] = node;  // visited from the last child down, so the first child writes last
            _childCount[parent]++;
        }
        _maxChildren = _childCount.Max();
        _leafItem = new int[rows];
        Array.Fill(_leafItem, -1);
        for (int node = _levelStart[positions]; node < rows; node++) _leafItem[node] = representative[node];
        _representative = representative.ToArray();
        Positions = positions;
    }

    /// <summary>Code positions (levels below the root).</summary>
    public int Positions { get; }
    public int NodeCount => _levelStart[^1];
    public int LevelCount => Positions + 1;
    public int LevelStart(int level) => _levelStart[level];
    public int LevelSize(int level) => _levelStart[level + 1] - _levelStart[level];
    public int ChildStart(int node) => _childStart[node];
    public int ChildCount(int node) => _childCount[node];
    public int MaxChildren => _maxChildren;
    public int LeafItem(int node) => _leafItem[node];

    /// <summary>The level a node is on (its prefix length).</summary>
    public int DepthOf(int node)
    {
        // Every level holds at least one node, so the level starts increase strictly.
        int depth = Array.BinarySearch(_levelStart, node);
        return depth >= 0 ? depth : ~depth - 1;
    }

    /// <summary>An item under the node (the first in code order): its first <see cref="DepthOf"/> codes are the node's prefix.</summary>
    public int RepresentativeItem(int node) => _representative[node];
}
