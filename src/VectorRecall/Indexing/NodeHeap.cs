using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace VectorRecall.Indexing;

/// <summary>
/// A binary min-heap of (distance, node) pairs over an array that grows and is then reused, so a
/// search allocates nothing once warm. A max-heap is the same heap over negated distances. A pair is one
/// 8-byte entry, so each step of a sift touches one cache line rather than one per array.
/// </summary>
internal sealed class NodeHeap(int capacity)
{
    private struct Entry
    {
        public float Key;
        public int Node;
    }

    private Entry[] _entries = new Entry[Math.Max(capacity, 16)];

    public int Count { get; private set; }
    public float TopKey => _entries[0].Key;
    public int TopNode => _entries[0].Node;

    /// <summary>The node at position <paramref name="i"/> of the heap's array (below <see cref="Count"/>): 1 and 2 hold the runners-up.</summary>
    public int NodeAt(int i) => _entries[i].Node;

    /// <summary>The key at position <paramref name="i"/> of the heap's array (below <see cref="Count"/>).</summary>
    public float KeyAt(int i) => _entries[i].Key;

    public void Clear() => Count = 0;

    public void Push(float key, int node)
    {
        if (Count == _entries.Length) Array.Resize(ref _entries, Count * 2);
        ref Entry e = ref MemoryMarshal.GetArrayDataReference(_entries);
        int i = Count++;
        while (i > 0)
        {
            int parent = (i - 1) >> 1;
            ref Entry p = ref Unsafe.Add(ref e, parent);
            if (p.Key <= key) break;
            Unsafe.Add(ref e, i) = p;
            i = parent;
        }
        ref Entry slot = ref Unsafe.Add(ref e, i);
        slot.Key = key;
        slot.Node = node;
    }

    public void Pop()
    {
        int n = --Count;
        if (n > 0) SiftDown(_entries[n].Key, _entries[n].Node, n);
    }

    /// <summary>Pop then Push in one sift (the top leaves, (key, node) enters): what a full result list does with a closer node.</summary>
    public void ReplaceTop(float key, int node) => SiftDown(key, node, Count);

    // Moves (key, node) down from the root of a heap of n entries until both children are no smaller.
    private void SiftDown(float key, int node, int n)
    {
        ref Entry e = ref MemoryMarshal.GetArrayDataReference(_entries);
        int i = 0;
        while (true)
        {
            int child = 2 * i + 1;
            if (child >= n) break;
            if (child + 1 < n && Unsafe.Add(ref e, child + 1).Key < Unsafe.Add(ref e, child).Key) child++;
            ref Entry c = ref Unsafe.Add(ref e, child);
            if (c.Key >= key) break;
            Unsafe.Add(ref e, i) = c;
            i = child;
        }
        ref Entry slot = ref Unsafe.Add(ref e, i);
        slot.Key = key;
        slot.Node = node;
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

    /// <summary>
    /// Marks each of <paramref name="count"/> nodes at <paramref name="nodes"/> and writes those not marked before to
    /// <paramref name="fresh"/>, returning how many; nodes beyond this list (added after the search began) are skipped.
    /// Each link is read once: a concurrent insert may rewrite a list between two reads, and a second read could queue a
    /// node other than the one just marked.
    /// </summary>
    // Without a branch on the mark: whether a neighbour was seen is a coin toss the predictor loses, and each miss threw
    // away the other marks' loads in flight. Every node is written to fresh and the count moves only for unseen ones. On
    // 1M × 128 SQ8 the walk measured 1.05–1.12× the QPS of a test-and-branch loop over marks fetched ahead (docs/indexes.md).
    public unsafe int MarkNew(int* nodes, int count, int* fresh)
    {
        ref ushort marks = ref MemoryMarshal.GetArrayDataReference(_marks);
        uint length = (uint)_marks.Length;
        ushort epoch = _epoch;
        int n = 0;
        for (int i = 0; i < count; i++)
        {
            int node = nodes[i];
            if ((uint)node >= length) continue;
            ref ushort mark = ref Unsafe.Add(ref marks, node);
            bool unseen = mark != epoch;
            mark = epoch;
            fresh[n] = node;
            n += Unsafe.BitCast<bool, byte>(unseen);
        }
        return n;
    }

    /// <summary>Marks <paramref name="node"/>; false if it was already marked (or lies beyond this list, added after the search began).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Visit(int node)
    {
        if ((uint)node >= (uint)_marks.Length || _marks[node] == _epoch) return false;
        _marks[node] = _epoch;
        return true;
    }
}

/// <summary>What one search needs besides the graph, pooled so that searches allocate nothing once warm.</summary>
internal sealed unsafe class SearchScratch(int capacity)
{
    public readonly VisitedList Visited = new(capacity);
    public readonly NodeHeap Candidates = new(256);
    public readonly NodeHeap Results = new(256);
    /// <summary>A search with patience (<see cref="SearchOptions.Patience"/>): its best k so far.</summary>
    public readonly NodeHeap Best = new(256);
    private float[] _query = [], _decoded = [], _rotated = [];
    private byte[] _tables = [];
    /// <summary>Quantised search: the query as bytes on the codes' scale (pinned, as the query buffer).</summary>
    public sbyte[] QueryCode = [];
    public int[] Selected = new int[64];
    public int[] Order = new int[64];
    public float[] OrderDistances = new float[64];

    /// <summary>The (pinned) buffer a search copies its query into, or an insert decodes its node into.</summary>
    public float* QueryBuffer(int dimension) => Pinned(ref _query, dimension);

    /// <summary>Pinned room for <paramref name="rows"/> decoded vectors of <paramref name="dimension"/>, where a graph without exact vectors is built.</summary>
    public float* DecodeRows(int rows, int dimension) => Pinned(ref _decoded, rows * dimension);

    private static float* Pinned(ref float[] buffer, int length)
    {
        if (buffer.Length < length) buffer = GC.AllocateUninitializedArray<float>(length, pinned: true);
        return (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buffer));
    }

    /// <summary>RaBitQ search: the query's rotated residual (<paramref name="length"/> floats, pinned).</summary>
    public float* RotatedQuery(int length) => Pinned(ref _rotated, length);

    /// <summary>RaBitQ search: the query's fast-scan tables (<paramref name="length"/> bytes, pinned).</summary>
    public byte* BitTables(int length)
    {
        if (_tables.Length < length) _tables = GC.AllocateUninitializedArray<byte>(length, pinned: true);
        return (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_tables));
    }

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
