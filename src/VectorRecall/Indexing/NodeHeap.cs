namespace VectorRecall.Indexing;

/// <summary>
/// A binary min-heap of (distance, node) pairs over arrays that grow and are then reused, so a
/// search allocates nothing once warm. A max-heap is the same heap over negated distances.
/// </summary>
internal sealed class NodeHeap(int capacity)
{
    private float[] _keys = new float[Math.Max(capacity, 16)];
    private int[] _nodes = new int[Math.Max(capacity, 16)];

    public int Count { get; private set; }
    public float TopKey => _keys[0];
    public int TopNode => _nodes[0];

    public void Clear() => Count = 0;

    public void Push(float key, int node)
    {
        if (Count == _keys.Length)
        {
            Array.Resize(ref _keys, Count * 2);
            Array.Resize(ref _nodes, Count * 2);
        }
        int i = Count++;
        while (i > 0)
        {
            int parent = (i - 1) >> 1;
            if (_keys[parent] <= key) break;
            _keys[i] = _keys[parent];
            _nodes[i] = _nodes[parent];
            i = parent;
        }
        _keys[i] = key;
        _nodes[i] = node;
    }

    public void Pop()
    {
        int n = --Count;
        if (n == 0) return;
        float key = _keys[n];
        int node = _nodes[n];
        int i = 0;
        while (true)
        {
            int child = 2 * i + 1;
            if (child >= n) break;
            if (child + 1 < n && _keys[child + 1] < _keys[child]) child++;
            if (_keys[child] >= key) break;
            _keys[i] = _keys[child];
            _nodes[i] = _nodes[child];
            i = child;
        }
        _keys[i] = key;
        _nodes[i] = node;
    }
}

/// <summary>
/// Marks of visited nodes for one search, cleared in O(1) by moving to a new epoch (a full clear
/// only when the 16-bit epoch wraps), as hnswlib's visited lists are.
/// </summary>
internal sealed class VisitedList(int capacity)
{
    private ushort[] _marks = new ushort[capacity];
    private ushort _epoch;

    public int Capacity => _marks.Length;

    /// <summary>Starts a new search over at least <paramref name="capacity"/> nodes.</summary>
    public void Reset(int capacity)
    {
        if (_marks.Length < capacity) { _marks = new ushort[Math.Max(capacity, _marks.Length * 2)]; _epoch = 0; }
        if (++_epoch == 0)
        {
            Array.Clear(_marks);
            _epoch = 1;
        }
    }

    /// <summary>Asks for the cache line holding <paramref name="node"/>'s mark: on a large graph the marks outgrow L2.</summary>
    public unsafe void Prefetch(int node)
    {
        if (System.Runtime.Intrinsics.X86.Sse.IsSupported && (uint)node < (uint)_marks.Length)
            fixed (ushort* p = &_marks[node]) System.Runtime.Intrinsics.X86.Sse.Prefetch0(p);
    }

    /// <summary>Marks <paramref name="node"/>; false if it was already marked (or lies beyond this list, added after the search began).</summary>
    public bool Visit(int node)
    {
        if ((uint)node >= (uint)_marks.Length || _marks[node] == _epoch) return false;
        _marks[node] = _epoch;
        return true;
    }
}

/// <summary>What one search needs besides the graph, pooled so that searches allocate nothing once warm.</summary>
internal sealed class SearchScratch(int capacity)
{
    public readonly VisitedList Visited = new(capacity);
    public readonly NodeHeap Candidates = new(256);
    public readonly NodeHeap Results = new(256);
    public float[] Query = [];
    /// <summary>Quantised search: the query as bytes on the codes' scale (pinned, as <see cref="Query"/>).</summary>
    public sbyte[] QueryCode = [];
    public int[] Selected = new int[64];
    public int[] Order = new int[64];
    public float[] OrderDistances = new float[64];

    /// <summary>Room for a neighbour selection among <paramref name="n"/> candidates.</summary>
    public void EnsureSelection(int n)
    {
        if (Selected.Length >= n) return;
        int size = Math.Max(n, Selected.Length * 2);
        Selected = new int[size];
        Order = new int[size];
        OrderDistances = new float[size];
    }
}
