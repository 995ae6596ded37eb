using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using VectorRecall.IO;
using VectorRecall.Numerics;

namespace VectorRecall.Indexing;

/// <summary>Construction and search settings of an <see cref="HnswIndex"/>.</summary>
public sealed record HnswOptions
{
    /// <summary>Links per node on the upper levels; level 0 keeps twice as many.</summary>
    public int M { get; init; } = 16;
    /// <summary>Candidate list size while inserting: larger builds slower and searches better.</summary>
    public int EfConstruction { get; init; } = 200;
    /// <summary>Default candidate list size while searching (at least k is always used).</summary>
    public int EfSearch { get; init; } = 100;
    /// <summary>At most this many threads while adding (0: <see cref="Numerics.Threads.Count"/>, the one thread setting); 1 builds deterministically.</summary>
    public int Threads { get; init; }
    /// <summary>Seed of the level draws: with one thread, the same seed and order give the same graph.</summary>
    public ulong Seed { get; init; } = 100;
    /// <summary>How the walk reads vectors: float32, or float16 or 8- or 4-bit codes (<see cref="ScalarQuantizer"/>) with the exact vectors kept apart for the final ranking.</summary>
    public VectorStorage Storage { get; init; } = VectorStorage.Float32;
    /// <summary>
    /// Compact storage: the walk's best Refine·k candidates (of its ef) are ranked again with the exact vectors (faiss's <c>k_factor</c>).
    /// Null: 4 for <see cref="VectorStorage.SQ4"/>, else 2; SQ4's coarser codes rank the walk's
    /// list less well (on 100k × 128 and on clustered sets, SQ4 at 4 reaches SQ8's recall at 2 for the same ef).
    /// 0: no exact vectors are kept at all (faiss's <c>IndexHNSWSQ</c>): the graph is built and searched on the codes alone,
    /// whose order and scores are final — the memory of the exact vectors saved (512 of about 850 bytes per 128-d SQ8 item)
    /// for a little recall at the same ef.
    /// </summary>
    public int? Refine { get; init; }
    /// <summary>
    /// How the exact vectors that re-rank are kept: <see cref="VectorStorage.Float32"/>, or <see cref="VectorStorage.FP16"/>
    /// with 8- or 4-bit codes (faiss's refine index over <c>SQfp16</c>): half their bytes (256 of 512 per 128-d item, which
    /// takes an SQ8 index below hnswlib's memory), and they build the graph too. Scores then carry half precision's error
    /// (about 1e-3 of a unit vector's), which reorders only near-ties.
    /// </summary>
    public VectorStorage RefineStorage { get; init; } = VectorStorage.Float32;
    /// <summary>
    /// Adds take the slots of removed items before new ones (hnswlib's <c>replace_deleted</c>), so an index under churn
    /// keeps its size; and <see cref="HnswIndex.AddOrReplace"/> replaces an id's vector in place.
    /// </summary>
    public bool ReuseRemovedSlots { get; init; }
}

/// <summary>What a graph's walk reads per visited vector.</summary>
public enum VectorStorage
{
    /// <summary>The vectors themselves, 4 bytes per dimension.</summary>
    Float32,
    /// <summary>One byte per dimension (per-dimension ranges trained on the data); exact vectors re-rank the final candidates.</summary>
    SQ8,
    /// <summary>Half a byte per dimension (15 steps per trained range); exact vectors re-rank the final candidates.</summary>
    SQ4,
    /// <summary>IEEE half precision, 2 bytes per dimension (nothing to train; magnitudes past 65,504 are clamped); exact vectors re-rank the final candidates.</summary>
    FP16,
    /// <summary>
    /// One bit per dimension (<see cref="RaBitQuantizer"/>), each node holding its neighbours' codes beside its links so a walk
    /// estimates them all from one record; the nodes it expands are scored by their exact vectors, kept apart.
    /// </summary>
    RaBitQ,
}

/// <summary>
/// Hierarchical navigable small-world graph (Malkov &amp; Yashunin, 2016), laid out as hnswlib does:
/// level 0 is one contiguous record per node (link count, up to 2M links, then the vector on its own cache line), in
/// fixed segments that never move, so searches can run while other threads add; upper levels are
/// small per-node arrays. Writers publish a link list by writing its entries before its count,
/// and a node's vector before any link to it, so a concurrent reader only ever meets finished
/// nodes. Removal marks a node deleted: searches still walk through it (the graph stays
/// connected) but never return it. With <see cref="VectorStorage.FP16"/>, <see cref="VectorStorage.SQ8"/> or
/// <see cref="VectorStorage.SQ4"/> the record holds the vector in half precision or as an 8- or 4-bit code instead (a half,
/// a quarter or an eighth of the bytes per visited node), the walk ranks by those, and the exact vectors, kept in their
/// own segments, build the graph and re-rank the walk's best <see cref="Refine"/>·k.
/// </summary>
public sealed unsafe partial class HnswIndex : IVectorIndex, IDisposable
{
    private const string Kind = "HNSW";
    private const int SegmentBits = 14, SegmentSize = 1 << SegmentBits, SegmentMask = SegmentSize - 1;
    private const int LockStripes = 1 << 12;

    private readonly int _maxM0;
    private readonly int _recordBytes, _vectorOffset, _vectorBytes, _exactBytes;
    private readonly bool _apart;     // the walk reads something other than the exact vectors
    private readonly bool _exactApart; // ... and the exact vectors are kept beside it (Refine > 0)
    private readonly bool _exactHalves; // ... in half precision (RefineStorage FP16)
    private readonly double _levelScale;
    private readonly Rng _levelRng;
    private readonly object _growLock = new(), _entryLock = new(), _repairLock = new();
    private readonly object[] _stripes;
    private readonly ConcurrentDictionary<long, int> _slotOf = new();
    private readonly Stack<SearchScratch> _scratchPool = new();
    private readonly Stack<int> _free = new();    // removed slots to reuse (ReuseRemovedSlots), under _growLock

    // Storage by slot, in segments of SegmentSize slots. Arrays of segments are replaced (never
    // mutated in place) when they grow, so a reader holding an old array still sees valid segments.
    private volatile byte*[] _level0 = [];
    private volatile byte*[] _exact = [];    // compact storage: the exact vectors, a segment per level-0 segment
    private volatile long[][] _labels = [];
    private volatile int[][] _levels = [];
    private volatile int[]?[][] _upper = [];
    private volatile byte[][] _deleted = [];
    private int _reserved;            // slots handed out
    private int _count;               // live (not removed) items
    private long _entry = -1;         // entry slot in the low 32 bits, top level in the high 32 (one atomic read)
    private volatile bool _anyDeleted;
    private bool _disposed;
    private int _unrepaired;          // items added since the last reachability repair

    public HnswIndex(int dimension, Metric metric, HnswOptions? options = null)
    {
        options ??= new HnswOptions();
        if (dimension <= 0) throw new ArgumentOutOfRangeException(nameof(dimension), $"dimension must be positive, got {dimension}");
        if (options.M < 2 || options.M > 1024) throw new ArgumentOutOfRangeException(nameof(options), $"M must lie in [2, 1024], got {options.M}");
        if (options.EfConstruction < 1) throw new ArgumentOutOfRangeException(nameof(options), $"efConstruction must be positive, got {options.EfConstruction}");
        if (options.EfSearch < 1) throw new ArgumentOutOfRangeException(nameof(options), $"efSearch must be positive, got {options.EfSearch}");
        if (!Enum.IsDefined(options.Storage)) throw new ArgumentOutOfRangeException(nameof(options), $"unknown storage {options.Storage}");
        if (options.Refine < 0) throw new ArgumentOutOfRangeException(nameof(options), $"refine must be at least 0, got {options.Refine}");
        if (options.Refine == 0 && options.Storage is VectorStorage.Float32 or VectorStorage.RaBitQ)
            throw new ArgumentOutOfRangeException(nameof(options), "refine 0 (no exact vectors kept) needs compact storage: FP16, SQ8 or SQ4 (RaBitQ scores by its exact vectors)");
        if (options.RefineStorage is not (VectorStorage.Float32 or VectorStorage.FP16))
            throw new ArgumentOutOfRangeException(nameof(options), $"refine storage {options.RefineStorage}: exact vectors are kept as Float32 or FP16");
        if (options.RefineStorage == VectorStorage.FP16 && (options.Storage is not (VectorStorage.SQ8 or VectorStorage.SQ4) || options.Refine == 0))
            throw new ArgumentOutOfRangeException(nameof(options), $"refine storage FP16 needs SQ8 or SQ4 codes with refine above 0 (got {options.Storage}, refine {options.Refine?.ToString() ?? "default"})");
        Refine = options.Refine ?? (options.Storage switch { VectorStorage.SQ4 => 4, VectorStorage.RaBitQ => 1, _ => 2 });
        Dimension = dimension;
        Metric = metric;
        Options = options;
        EfSearch = options.EfSearch;
        _maxM0 = 2 * options.M;
        // Vectors start on a cache line and records are whole lines: a 128-d vector then spans 8
        // lines instead of 9 (about 15 % more queries per second for 9 % more memory).
        _vectorOffset = (4 + 4 * _maxM0 + 63) / 64 * 64;
        // Codes: the code, then for L2 the decoded vector's squared norm (what L2 needs besides the dot product); inner product
        // and cosine need none, so a 128-d 8-bit code stays within two cache lines and a 4-bit one within one.
        _apart = options.Storage != VectorStorage.Float32;
        _exactApart = _apart && Refine > 0;
        _vectorBytes = options.Storage switch
        {
            VectorStorage.Float32 => 4 * dimension,
            VectorStorage.FP16 => 2 * dimension,
            VectorStorage.RaBitQ => BitRecordBytes(dimension, _maxM0),
            _ => ScalarQuantizer.CodeLength(dimension, CodeBits) + (metric == Metric.L2 ? 4 : 0),
        };
        _exactHalves = _exactApart && options.RefineStorage == VectorStorage.FP16;
        _exactBytes = (_exactHalves ? 2 : 4) * dimension;
        _recordBytes = (_vectorOffset + _vectorBytes + 63) / 64 * 64;
        _levelScale = 1 / Math.Log(options.M);
        _levelRng = new Rng(options.Seed);
        _stripes = new object[LockStripes];
        for (int i = 0; i < _stripes.Length; i++) _stripes[i] = new object();
    }

    ~HnswIndex() => FreeSegments();

    public int Dimension { get; }
    public Metric Metric { get; }
    public HnswOptions Options { get; }
    public int M => Options.M;

    /// <summary>Candidate list size used by searches that do not give one.</summary>
    public int EfSearch { get; set; }

    /// <summary>Compact storage: how many times k of the walk's best candidates the exact vectors re-rank (<see cref="HnswOptions.Refine"/>, or the storage's default; 0: none are kept).</summary>
    public int Refine { get; }

    public int Count => Volatile.Read(ref _count);

    /// <summary>Slots in use, removed items included (removal does not reclaim space).</summary>
    internal int SlotCount => Volatile.Read(ref _reserved);

    /// <summary>The quantiser of <see cref="VectorStorage.SQ8"/> and <see cref="VectorStorage.SQ4"/> storage (trained by <see cref="Train"/> or the first add); null for float32.</summary>
    public ScalarQuantizer? Quantizer { get; private set; }

    private int CodeBits => Options.Storage == VectorStorage.SQ4 ? 4 : 8;

    /// <summary>Whether the storage has a quantiser to train (SQ8, SQ4, RaBitQ).</summary>
    private bool Trained => Options.Storage is VectorStorage.SQ8 or VectorStorage.SQ4 or VectorStorage.RaBitQ;

    /// <summary>Whether that quantiser is trained.</summary>
    private bool IsTrained => Quantizer is not null || BitQuantizer is not null;

    /// <summary>Bytes of memory the graph and vectors take per stored item (level 0, upper links, id, level, flags, and the exact vector compact storage keeps apart unless refine is 0).</summary>
    public double BytesPerVector
    {
        get
        {
            int n = Math.Max(1, SlotCount);
            long upper = 0;
            for (int s = 0; s < n; s++) upper += (UpperLinks(s)?.Length ?? 0) * 4L;
            return _recordBytes + 8 + 4 + 1 + (double)upper / n + (_exactApart ? _exactBytes : 0);
        }
    }

    public bool Contains(long id) => _slotOf.ContainsKey(id);

    // ---- Construction ------------------------------------------------------------------

    /// <summary>Adds vectors on <see cref="HnswOptions.Threads"/> threads.</summary>
    public void Add(ReadOnlySpan<long> ids, ReadOnlySpan<float> vectors) => Add(ids, vectors, null, CancellationToken.None);

    /// <summary>Adds vectors, telling <paramref name="progress"/> how many are in; cancelling stops between items (those already in stay searchable).</summary>
    public void Add(ReadOnlySpan<long> ids, ReadOnlySpan<float> vectors, IProgress<int>? progress, CancellationToken cancel)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int n = VectorChecks.AddCount(ids, vectors, Dimension);
        foreach (long id in ids) if (_slotOf.ContainsKey(id)) throw new ArgumentException($"id {id} is already in the index");
        if (n == 0) return;
        if (Trained && !IsTrained) Train(vectors);

        // Slots and levels are drawn up front, in input order, so one thread reproduces one graph. A reused slot keeps its level.
        var slots = new int[n];
        var levels = new int[n];
        int reused = 0;
        lock (_growLock)
        {
            int entrySlot = EntrySlot(Volatile.Read(ref _entry));
            var skipped = new List<int>();
            while (reused < n && _free.TryPop(out int slot))
            {
                // The entry point's links are where every search starts: it keeps them.
                if (slot == entrySlot) { skipped.Add(slot); continue; }
                slots[reused] = slot;
                levels[reused++] = LevelOf(slot);
            }
            foreach (int slot in skipped) _free.Push(slot);
            int first = _reserved, fresh = n - reused;
            if ((long)first + fresh > int.MaxValue - SegmentSize) throw new InvalidOperationException($"an HNSW index holds at most {int.MaxValue - SegmentSize} items");
            EnsureCapacity(first + fresh);
            for (int i = 0; i < fresh; i++) { slots[reused + i] = first + i; levels[reused + i] = DrawLevel(); }
            Volatile.Write(ref _reserved, first + fresh);
        }
        // A fresh slot has no in-links before its own insert, so it is written now. A reused one keeps its old vector and
        // links — a walkable part of the graph — until its turn: written at once, its emptied links would be dead ends that
        // other inserts of this batch walk into and get stuck at. The links other nodes hold to it stay, walked as any link.
        for (int i = reused; i < n; i++) WriteNode(slots[i], ids[i], levels[i], vectors.Slice(i * Dimension, Dimension));
        var reusedVectors = vectors[..(reused * Dimension)].ToArray();

        int threads = Threads.Resolve(Options.Threads);
        int done = 0;
        var idArray = ids.ToArray();
        var linked = new bool[n];
        void Link(int i)
        {
            if (i < reused) WriteNode(slots[i], idArray[i], levels[i], reusedVectors.AsSpan(i * Dimension, Dimension));
            Insert(slots[i], idArray[i]);
        }
        try
        {
            if (threads == 1 || n < 64)
            {
                for (int i = 0; i < n; i++)
                {
                    cancel.ThrowIfCancellationRequested();
                    Link(i);
                    linked[i] = true;
                    if ((++done & 1023) == 0) progress?.Report(done);
                }
            }
            else
            {
                Parallel.For(0, n, new ParallelOptions { MaxDegreeOfParallelism = threads, CancellationToken = cancel }, i =>
                {
                    Link(i);
                    linked[i] = true;
                    int d = Interlocked.Increment(ref done);
                    if ((d & 1023) == 0) progress?.Report(d);
                });
            }
        }
        catch (OperationCanceledException)
        {
            // Slots reserved but never linked hold no searchable item: mark them so that files and counts agree.
            for (int i = 0; i < n; i++)
                if (!linked[i]) { Volatile.Write(ref _deleted[slots[i] >> SegmentBits][slots[i] & SegmentMask], (byte)1); _anyDeleted = true; Free(slots[i]); }
            throw;
        }
        // A walk over the whole graph costs about what inserting a few hundred items does: after a
        // large batch it is paid at once; small batches defer it until enough items (or a Save) ask for it.
        if (Interlocked.Add(ref _unrepaired, n) >= Math.Max(RepairBatch, Count / 16)) RepairReachability();
        RefreshBlocks();
        progress?.Report(n);
    }

    /// <summary>
    /// Quantised storage: sets each dimension's range from <paramref name="vectors"/> (rows of <see cref="Dimension"/>; a
    /// sample of the data is enough). Without it the first <see cref="Add(ReadOnlySpan{long}, ReadOnlySpan{float})"/>'s
    /// vectors train it. Only before anything is added; later values outside the ranges are clamped.
    /// </summary>
    public void Train(ReadOnlySpan<float> vectors)
    {
        if (!Trained) throw new InvalidOperationException($"{Options.Storage} storage has nothing to train");
        if (vectors.Length % Dimension != 0 || vectors.IsEmpty) throw new ArgumentException($"{vectors.Length} floats are no rows of {Dimension}");
        var rows = vectors.ToArray();
        if (Metric == Metric.Cosine)
            for (int r = 0; r < rows.Length; r += Dimension) VectorChecks.Normalize(rows.AsSpan(r, Dimension));
        lock (_growLock)
        {
            if (_reserved > 0) throw new InvalidOperationException("the quantiser is trained before vectors are added");
            if (Options.Storage == VectorStorage.RaBitQ) TrainBits(rows);
            else Quantizer = ScalarQuantizer.Train(rows, Dimension, CodeBits);
        }
    }

    /// <summary>
    /// Adds each vector under its id, replacing the vector of an id already in the index (hnswlib's update of an existing
    /// label): the old one is removed and, with <see cref="HnswOptions.ReuseRemovedSlots"/>, its slot takes the new one.
    /// Not atomic: a search running meanwhile may miss a replaced id.
    /// </summary>
    public void AddOrReplace(ReadOnlySpan<long> ids, ReadOnlySpan<float> vectors)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        VectorChecks.AddCount(ids, vectors, Dimension);
        foreach (long id in ids) if (_slotOf.ContainsKey(id)) Remove(id);
        Add(ids, vectors);
    }

    /// <summary>Offers a removed slot for reuse.</summary>
    private void Free(int slot)
    {
        if (!Options.ReuseRemovedSlots) return;
        lock (_growLock) _free.Push(slot);
    }

    private int DrawLevel()
    {
        double u = _levelRng.NextDouble();
        return (int)(-Math.Log(Math.Max(u, double.Epsilon)) * _levelScale);
    }

    /// <summary>Writes a reserved slot's vector, id and level; it is linked into the graph later.</summary>
    private void WriteNode(int slot, long id, int level, ReadOnlySpan<float> vector)
    {
        byte* record = Record(slot);
        *(int*)record = 0;
        // Without exact float32 vectors kept, the normalised copy lives only until it is encoded.
        float[]? staged = ExactKept ? null : System.Buffers.ArrayPool<float>.Shared.Rent(Dimension);
        var dst = staged is null ? new Span<float>(Exact(slot), Dimension) : staged.AsSpan(0, Dimension);
        vector.CopyTo(dst);
        if (Metric == Metric.Cosine) VectorChecks.Normalize(dst);
        if (_exactHalves) Distances.ToHalves(dst, (ushort*)ExactAddress(slot));
        if (Quantizer is { } quantizer) WriteCode(quantizer, dst, record + _vectorOffset);
        else if (Options.Storage == VectorStorage.FP16) Distances.ToHalves(dst, (ushort*)(record + _vectorOffset));
        else if (BitQuantizer is not null) WriteBitCode(slot, dst);
        if (staged is not null) System.Buffers.ArrayPool<float>.Shared.Return(staged);
        _labels[slot >> SegmentBits][slot & SegmentMask] = id;
        _levels[slot >> SegmentBits][slot & SegmentMask] = level;
        _upper[slot >> SegmentBits][slot & SegmentMask] = level > 0 ? NewUpperLinks(level) : null;
    }

    /// <summary>A vector's code and, for L2, after it the squared norm of the vector the code decodes to.</summary>
    private void WriteCode(ScalarQuantizer quantizer, ReadOnlySpan<float> vector, byte* destination)
    {
        var code = new Span<byte>(destination, quantizer.CodeBytes);
        quantizer.Encode(vector, code);
        if (Metric != Metric.L2) return;
        float[]? rented = Dimension > 1024 ? System.Buffers.ArrayPool<float>.Shared.Rent(Dimension) : null;
        Span<float> decoded = rented is null ? stackalloc float[Dimension] : rented.AsSpan(0, Dimension);
        quantizer.Decode(code, decoded);
        *(float*)(destination + quantizer.CodeBytes) = TensorPrimitives.Dot(decoded, decoded);
        if (rented is not null) System.Buffers.ArrayPool<float>.Shared.Return(rented);
    }

    /// <summary>
    /// Links a written slot into every level up to its own (hnswlib's addPoint). The walk that finds its neighbours reads the
    /// exact vectors where they are kept, else what searches read, from the node's own decoded code or halves.
    /// </summary>
    private void Insert(int slot, long id)
    {
        var scratch = RentScratch();
        try
        {
            if (ExactKept) { Insert(new ExactDistance(this, Exact(slot)), slot, id, scratch); return; }
            float* q = Vector(slot, scratch.QueryBuffer(Dimension));
            if (_exactHalves) Insert(new ExactHalfDistance(this, q), slot, id, scratch);
            else if (Quantizer is { } quantizer) Insert(CodeQuery(quantizer, q, scratch), slot, id, scratch);
            else Insert(new HalfDistance(this, q), slot, id, scratch);
        }
        finally { ReturnScratch(scratch); }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Insert<TDistance>(in TDistance distance, int slot, long id, SearchScratch scratch) where TDistance : struct, IQueryDistance
    {
        int level = LevelOf(slot);
        bool holdsEntryLock = false;
        try
        {
            long entry;
            lock (_entryLock)
            {
                entry = _entry;
                if (entry < 0)
                {
                    Volatile.Write(ref _entry, Pack(slot, level));
                    Publish(slot, id);
                    return;
                }
            }
            // A new top level changes the entry point: keep others from reading a half-linked one.
            if (level > TopLevel(entry))
            {
                Monitor.Enter(_entryLock, ref holdsEntryLock);
                entry = _entry;
            }
            int current = EntrySlot(entry), top = TopLevel(entry);
            float currentDist = distance.To(current);
            for (int l = top; l > level; l--) current = GreedyStep(distance, current, ref currentDist, l, exclude: slot);

            for (int l = Math.Min(level, top); l >= 0; l--)
            {
                SearchLayer(distance, default(WithoutPatience), current, l, Options.EfConstruction, scratch, excludeDeleted: false, exclude: slot, filter: null);
                current = Connect(slot, l, scratch, current);
            }
            if (level > top) Volatile.Write(ref _entry, Pack(slot, level));
            Publish(slot, id);
        }
        finally
        {
            if (holdsEntryLock) Monitor.Exit(_entryLock);
        }
    }

    private void Publish(int slot, long id)
    {
        if (_slotOf.TryAdd(id, slot))
        {
            // A reused slot stays marked removed until it is linked again; now it may be returned.
            if (_anyDeleted) Volatile.Write(ref _deleted[slot >> SegmentBits][slot & SegmentMask], (byte)0);
            Interlocked.Increment(ref _count);
            return;
        }
        // Two concurrent Add calls carried the same id: the first one in keeps it.
        Volatile.Write(ref _deleted[slot >> SegmentBits][slot & SegmentMask], (byte)1);
        _anyDeleted = true;
    }

    /// <summary>
    /// Links <paramref name="slot"/> to the best of the candidates in <c>scratch.Results</c> at
    /// <paramref name="level"/> (chosen by the heuristic) and each of them back to it, shrinking
    /// their lists by the same heuristic when full. Returns the closest candidate, where the next
    /// level's search starts (<paramref name="fallback"/> when there are none).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int Connect(int slot, int level, SearchScratch scratch, int fallback)
    {
        int maxLinks = level == 0 ? _maxM0 : M;
        int selectedCount = SelectNeighbours(scratch.Results, M, scratch);
        if (selectedCount == 0) return fallback;
        // The selection is reused below while scratch.Selected serves other selections.
        Span<int> selected = selectedCount <= 256 ? stackalloc int[selectedCount] : new int[selectedCount];
        scratch.Selected.AsSpan(0, selectedCount).CopyTo(selected);
        int closest = selected[0];

        lock (Stripe(slot))
        {
            int* list = Links(slot, level);
            int existing = *list;
            if (existing == 0)
            {
                for (int i = 0; i < selectedCount; i++) list[1 + i] = selected[i];
                Volatile.Write(ref *list, selectedCount);
            }
            else
            {
                // Other threads that found this node already linked it to them: keep those links too.
                var heap = scratch.Candidates;
                heap.Clear();
                float* from = Vector(slot, DecodeRow(scratch, 0)), other = DecodeRow(scratch, 1);
                for (int i = 0; i < existing; i++) heap.Push(-Distance(from, Vector(list[1 + i], other)), list[1 + i]);
                foreach (int s in selected)
                {
                    bool present = false;
                    for (int i = 0; i < existing; i++) if (list[1 + i] == s) { present = true; break; }
                    if (!present) heap.Push(-Distance(from, Vector(s, other)), s);
                }
                int kept = SelectNeighbours(heap, maxLinks, scratch);
                for (int i = 0; i < kept; i++) list[1 + i] = scratch.Selected[i];
                Volatile.Write(ref *list, kept);
            }
        }

        for (int i = 0; i < selectedCount; i++)
        {
            int neighbour = selected[i];
            lock (Stripe(neighbour))
            {
                int* list = Links(neighbour, level);
                int count = *list;
                bool present = false;
                for (int j = 0; j < count; j++) if (list[1 + j] == slot) { present = true; break; }
                if (present) continue;
                if (count < maxLinks)
                {
                    list[1 + count] = slot;
                    Volatile.Write(ref *list, count + 1);
                    continue;
                }
                // Full: keep the best maxLinks of the old links plus the new one, by the heuristic, as seen from the neighbour.
                var heap = scratch.Candidates;
                heap.Clear();
                float* from = Vector(neighbour, DecodeRow(scratch, 0)), other = DecodeRow(scratch, 1);
                heap.Push(-Distance(from, Vector(slot, other)), slot);
                for (int j = 0; j < count; j++) heap.Push(-Distance(from, Vector(list[1 + j], other)), list[1 + j]);
                int kept = SelectNeighbours(heap, maxLinks, scratch);
                for (int j = 0; j < kept; j++) list[1 + j] = scratch.Selected[j];
                Volatile.Write(ref *list, kept);
            }
        }
        return closest;
    }

    /// <summary>
    /// The neighbour-selection heuristic (the paper's algorithm 4, hnswlib's getNeighborsByHeuristic2):
    /// closest first, keep a candidate only if it is nearer to the base than to every one kept, at
    /// most <paramref name="max"/>. <paramref name="farthestFirst"/> holds (−distance, node) pairs
    /// and is consumed; the kept nodes go to <c>scratch.Selected</c>, closest first.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int SelectNeighbours(NodeHeap farthestFirst, int max, SearchScratch scratch)
    {
        int n = farthestFirst.Count;
        scratch.EnsureSelection(n);
        var dist = scratch.OrderDistances;
        var order = scratch.Order;
        for (int i = n - 1; i >= 0; i--)
        {
            dist[i] = -farthestFirst.TopKey;
            order[i] = farthestFirst.TopNode;
            farthestFirst.Pop();
        }
        if (n <= max)
        {
            order.AsSpan(0, n).CopyTo(scratch.Selected);
            return n;
        }
        // Each candidate's vector is fetched (or decoded, into the row it keeps if selected) once, not once per comparison.
        float** vectors = stackalloc float*[max];
        int kept = 0;
        for (int i = 0; i < n && kept < max; i++)
        {
            float* v = Vector(order[i], DecodeRow(scratch, kept));
            bool good = true;
            for (int j = 0; j < kept; j++)
                if (Distance(v, vectors[j]) < dist[i]) { good = false; break; }
            if (good) { vectors[kept] = v; scratch.Selected[kept++] = order[i]; }
        }
        return kept;
    }

    // ---- Search ------------------------------------------------------------------------

    /// <summary>
    /// The k nearest, with this call's candidate list size (<see cref="SearchOptions.Ef"/>, else
    /// <see cref="EfSearch"/>; at least k is used) and, when given, a filter on the ids returned: the walk passes through refused items.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public int Search(ReadOnlySpan<float> query, int k, Span<long> ids, Span<float> scores, SearchOptions? options = null)
    {
        int ef = options is { Ef: > 0 } ? options.Ef : EfSearch;
        var filter = options?.Filter;
        ObjectDisposedException.ThrowIf(_disposed, this);
        VectorChecks.Query(query, Dimension, k);
        if (options is { Ef: < 0 }) throw new ArgumentOutOfRangeException(nameof(options), $"ef must be positive (0: the index's {EfSearch}), got {options.Ef}");
        if (options is { Patience: < 0 }) throw new ArgumentOutOfRangeException(nameof(options), $"patience must be at least 0 (0: off), got {options.Patience}");
        if (ids.Length < Math.Min(k, Count) || scores.Length < Math.Min(k, Count)) throw new ArgumentException("result buffers are shorter than k");
        long entry = Volatile.Read(ref _entry);
        if (entry < 0) return 0;

        var scratch = RentScratch();
        try
        {
            float* q = scratch.QueryBuffer(Dimension);
            var normalised = new Span<float>(q, Dimension);
            query.CopyTo(normalised);
            if (Metric == Metric.Cosine) VectorChecks.Normalize(normalised);
            int patience = options?.Patience ?? 0;
            if (Quantizer is { } quantizer) return SearchApart(CodeQuery(quantizer, q, scratch), q, entry, ef, k, ids, scores, scratch, filter, patience);
            if (BitQuantizer is not null) return SearchBits(q, entry, ef, k, ids, scores, scratch, filter);
            if (_apart) return SearchApart(new HalfDistance(this, q), q, entry, ef, k, ids, scores, scratch, filter, patience);
            Walk(new ExactDistance(this, q), entry, Math.Max(ef, k), scratch, filter, k, patience);
            return TakeBest(scratch, k, ids, scores);
        }
        finally { ReturnScratch(scratch); }
    }

    /// <summary>The best k of a walk's results, (−distance, node) farthest on top, into the caller's buffers: picked in one pass (<see cref="BestOf"/>), then filled from the back.</summary>
    private int TakeBest(SearchScratch scratch, int k, Span<long> ids, Span<float> scores)
    {
        var results = BestOf(scratch.Results, k, scratch.Candidates);
        int found = results.Count;
        for (int i = found - 1; i >= 0; i--)
        {
            float d = -results.TopKey;
            ids[i] = Label(results.TopNode);
            scores[i] = Metric == Metric.L2 ? d : 1f - d;
            results.Pop();
        }
        return found;
    }

    /// <summary>
    /// From the entry point down the upper levels greedily, then level 0 with a candidate list of <paramref name="ef"/>; with a
    /// <paramref name="patience"/> above 0, level 0 also stops once that many expansions in a row have not changed its best <paramref name="k"/>.
    /// </summary>
    private void Walk<TDistance>(in TDistance distance, long entry, int ef, SearchScratch scratch, IIdFilter? filter, int k, int patience) where TDistance : struct, IQueryDistance
    {
        int current = EntrySlot(entry);
        float currentDist = distance.To(current);
        for (int l = TopLevel(entry); l > 0; l--) current = GreedyStep(distance, current, ref currentDist, l);
        if (patience > 0)
            SearchLayer(distance, new WithPatience(scratch.Best, k, patience), current, 0, ef, scratch, excludeDeleted: true, exclude: -1, filter, alsoFrom: EntrySlot(entry));
        else SearchLayer(distance, default(WithoutPatience), current, 0, ef, scratch, excludeDeleted: true, exclude: -1, filter, alsoFrom: EntrySlot(entry));
    }

    /// <summary>What a walk over codes measures with: the query rounded to bytes on the codes' scale, in the scratch's pinned buffer.</summary>
    private CodeDistance CodeQuery(ScalarQuantizer quantizer, float* q, SearchScratch scratch)
    {
        if (scratch.QueryCode.Length < quantizer.QueryLength) scratch.QueryCode = GC.AllocateUninitializedArray<sbyte>(quantizer.QueryLength, pinned: true);
        var query = new ReadOnlySpan<float>(q, Dimension);
        var (offset, scale) = quantizer.Prepare(query, scratch.QueryCode.AsSpan(0, quantizer.QueryLength));
        float norm = Metric == Metric.L2 ? TensorPrimitives.Dot(query, query) : 0f;
        return new CodeDistance(this, quantizer, (sbyte*)Unsafe.AsPointer(ref scratch.QueryCode[0]), offset, scale, norm);
    }

    /// <summary>
    /// Search of compact storage: the walk ranks by what <paramref name="distance"/> reads, with a candidate list of ef (at
    /// least k); its best <see cref="Refine"/>·k (or all of the list, when shorter) are ranked again by their exact vectors,
    /// and the best k of those returned with exact scores. ef stays the one knob of cost: widening the walk to Refine·k would
    /// make a top-500 search walk 1,000 or 2,000 wide whatever ef was asked. Without exact vectors (refine 0), 8- and 4-bit
    /// codes' best <see cref="CodesOnlyRerank"/>·k are ranked again by their decoded vectors against the query as given
    /// (the walk's byte-rounded query is the larger error); half precision's walk already used the query as given.
    /// </summary>
    private int SearchApart<TDistance>(in TDistance distance, float* q, long entry, int ef, int k, Span<long> ids, Span<float> scores, SearchScratch scratch, IIdFilter? filter,
        int patience)
        where TDistance : struct, IQueryDistance
    {
        Walk(distance, entry, Math.Max(ef, k), scratch, filter, k, patience);
        if (!_exactApart && Quantizer is null) return TakeBest(scratch, k, ids, scores);
        int refine = (int)Math.Min((long)k * (_exactApart ? Refine : CodesOnlyRerank), int.MaxValue / 2);
        float* decoded = DecodeRow(scratch, 0);
        var results = BestOf(scratch.Results, refine, scratch.Candidates);
        int found = results.Count;
        scratch.EnsureSelection(found);
        var nodes = scratch.Order;
        var exact = scratch.OrderDistances;
        // The candidates are sorted by exact distance below, so they are read in the heap's own order (no pops), and each
        // exact vector, a DRAM miss at a million items, is fetched a few candidates ahead of its distance.
        for (int i = 0; i < found; i++) nodes[i] = results.NodeAt(i);
        results.Clear();
        const int ahead = 4;
        if (_exactApart)
            for (int i = 0; i < Math.Min(ahead, found); i++) PrefetchExact(nodes[i]);
        for (int i = 0; i < found; i++)
        {
            if (_exactApart && i + ahead < found) PrefetchExact(nodes[i + ahead]);
            exact[i] = Distance(q, Vector(nodes[i], decoded));
        }
        Array.Sort(exact, nodes, 0, found);
        int returned = Math.Min(found, k);
        for (int i = 0; i < returned; i++)
        {
            ids[i] = Label(nodes[i]);
            scores[i] = Metric == Metric.L2 ? exact[i] : 1f - exact[i];
        }
        return returned;
    }

    /// <summary>
    /// The <paramref name="n"/> nearest of a walk's results ((−distance, node), farthest on top) in <paramref name="into"/>, the
    /// same shape, by one pass over the entries: popping the surplus one at a time cost ef·log ef (on 1M × 128 SQ8 this is
    /// 1.03–1.05× the QPS at ef 320 and 640, the same recall).
    /// </summary>
    private static NodeHeap BestOf(NodeHeap results, int n, NodeHeap into)
    {
        if (results.Count <= n) return results;
        into.Clear();
        for (int i = 0; i < results.Count; i++)
        {
            float key = results.KeyAt(i);
            if (into.Count < n) into.Push(key, results.NodeAt(i));
            else if (key > into.TopKey) into.ReplaceTop(key, results.NodeAt(i));
        }
        return into;
    }

    public void SearchBatch(ReadOnlySpan<float> queries, int k, Span<long> ids, Span<float> scores, Span<int> counts, IReadOnlyList<SearchOptions?>? options = null)
    {
        int nq = VectorChecks.BatchCount(queries, Dimension, k, ids.Length, scores.Length, counts.Length);
        VectorChecks.Options(options, nq);
        // The caller's buffers are written in place (a lambda cannot hold a span, so their pinned addresses): a batch of
        // 64 top-500 searches would otherwise copy through 400 KB of fresh large-object arrays.
        fixed (float* q = queries)
        fixed (long* outIds = ids)
        fixed (float* outScores = scores)
        fixed (int* outCounts = counts)
        {
            nint qAt = (nint)q, idsAt = (nint)outIds, scoresAt = (nint)outScores, countsAt = (nint)outCounts;
            int dim = Dimension;
            Parallel.For(0, nq, Threads.Options, i =>
            {
                var rowIds = new Span<long>((long*)idsAt + (long)i * k, k);
                var rowScores = new Span<float>((float*)scoresAt + (long)i * k, k);
                int found = Search(new ReadOnlySpan<float>((float*)qAt + (long)i * dim, dim), k, rowIds, rowScores, options?[i]);
                rowIds[found..].Fill(-1);
                rowScores[found..].Fill(float.NaN);
                ((int*)countsAt)[i] = found;
            });
        }
    }

    /// <summary>Moves to the closest neighbour at an upper level until none is closer.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int GreedyStep<TDistance>(in TDistance distance, int current, ref float currentDist, int level, int exclude = -1) where TDistance : struct, IQueryDistance
    {
        bool changed = true;
        while (changed)
        {
            changed = false;
            int* list = Links(current, level);
            int count = Math.Min(Volatile.Read(ref *list), M);
            for (int i = 0; i < count; i++)
            {
                int candidate = list[1 + i];
                // The node being inserted may already be linked to (a reused slot, or another thread's back-link): it is never its own start.
                if (candidate == exclude) continue;
                float d = distance.To(candidate);
                if (d < currentDist) { currentDist = d; current = candidate; changed = true; }
            }
        }
        return current;
    }

    /// <summary>
    /// Best-first search of one level from <paramref name="entry"/> with a candidate list of
    /// <paramref name="ef"/> (the paper's algorithm 2). Leaves the up-to-ef nearest in
    /// <c>scratch.Results</c> as (−distance, node), farthest on top; deleted nodes are walked
    /// through but, when <paramref name="excludeDeleted"/>, not kept, and neither are items
    /// <paramref name="filter"/> refuses. <paramref name="exclude"/>
    /// (the node being inserted, or −1) is never visited; <paramref name="alsoFrom"/> (or −1) is a second start.
    /// </summary>
    // Long-running loops: compiled optimised from the first call rather than after tiering.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void SearchLayer<TDistance, TPatience>(in TDistance distance, TPatience patience, int entry, int level, int ef, SearchScratch scratch, bool excludeDeleted, int exclude,
        IIdFilter? filter, int alsoFrom = -1)
        where TDistance : struct, IQueryDistance where TPatience : struct, IPatience
    {
        var visited = scratch.Visited;
        var candidates = scratch.Candidates;
        var results = scratch.Results;
        visited.Reset(Volatile.Read(ref _reserved));
        // A node being inserted can be reached through links other threads just made to it; it must not become its own neighbour.
        if (exclude >= 0) visited.Visit(exclude);
        candidates.Clear();
        results.Clear();
        int maxLinks = level == 0 ? _maxM0 : M;
        int linkBytes = level == 0 ? 4 + 4 * maxLinks : 0;   // upper levels' lists live apart, small and few

        float d0 = distance.To(entry);
        visited.Visit(entry);
        candidates.Push(d0, entry);
        if (Keeps(entry, excludeDeleted, filter)) results.Push(-d0, entry);
        // A second start (the index's entry point, from which RepairReachability made every item
        // reachable): the upper levels may land where the walk does not lead back to every item, and a
        // search as wide as the index must still return all of it. One distance; it is popped at once
        // when it is far from the query.
        if (alsoFrom >= 0 && visited.Visit(alsoFrom))
        {
            float da = distance.To(alsoFrom);
            candidates.Push(da, alsoFrom);
            if (Keeps(alsoFrom, excludeDeleted, filter)) results.Push(-da, alsoFrom);
            if (results.Count > ef) results.Pop();
        }
        float bound = results.Count == ef ? -results.TopKey : float.MaxValue;

        int* pending = stackalloc int[maxLinks];
        int ahead = distance.Ahead;
        while (candidates.Count > 0)
        {
            float d = candidates.TopKey;
            int node = candidates.TopNode;
            if (d > bound && results.Count >= ef) break;
            if (patience.Exhausted) break;
            candidates.Pop();
            // The next node expanded is the new top unless one of this node's neighbours beats it (then that one's list is fetched
            // as it is queued): fetch its link list while this node is worked on, as hnswlib does. Its code was read when it was
            // queued; its links, on lines of their own, were not. On 100k and 1M × 128 SQ8: 1.11–1.19× the QPS at ef 80 and 320.
            if (candidates.Count > 0) Prefetch(Record(candidates.TopNode), linkBytes);

            // Collect the unvisited neighbours first, so that each vector can be fetched a few
            // distances ahead of its own: memory latency, not arithmetic, bounds this loop.
            int* list = Links(node, level);
            int count = Math.Min(Volatile.Read(ref *list), maxLinks);
            int unvisited = visited.MarkNew(list + 1, count, pending);
            for (int i = 0; i < Math.Min(ahead, unvisited); i++) distance.Prefetch(pending[i]);
            for (int i = 0; i < unvisited; i++)
            {
                int next = pending[i];
                if (i + ahead < unvisited) distance.Prefetch(pending[i + ahead]);
                float dn = distance.To(next);
                if (results.Count < ef || dn < bound)
                {
                    if (candidates.Count == 0 || dn < candidates.TopKey) Prefetch(Record(next), linkBytes);
                    candidates.Push(dn, next);
                    if (Keeps(next, excludeDeleted, filter))
                    {
                        // A full list trades its farthest for the closer node in one sift.
                        if (results.Count < ef) results.Push(-dn, next);
                        else results.ReplaceTop(-dn, next);
                        patience.Kept(dn, next);
                    }
                    if (results.Count > 0) bound = -results.TopKey;
                }
            }
            patience.Expanded();
        }
    }

    /// <summary>
    /// When a walk stops before its ef bound (<see cref="SearchOptions.Patience"/>): a struct per policy, so the JIT compiles
    /// the bookkeeping only into the walk that has it and every other walk keeps its inner loop as it was.
    /// </summary>
    private interface IPatience
    {
        /// <summary>Whether the walk should stop now.</summary>
        bool Exhausted { get; }
        /// <summary>A node the walk keeps as a result, at <paramref name="distance"/>.</summary>
        void Kept(float distance, int node);
        /// <summary>An expansion is over.</summary>
        void Expanded();
    }

    private struct WithoutPatience : IPatience
    {
        public readonly bool Exhausted => false;
        public readonly void Kept(float distance, int node) { }
        public readonly void Expanded() { }
    }

    /// <summary>Stops once a given number of expansions in a row have not changed the best k kept (held in a heap of the scratch).</summary>
    private struct WithPatience : IPatience
    {
        private readonly NodeHeap _best;
        private readonly int _k, _patience;
        private int _quiet;
        private bool _changed;

        public WithPatience(NodeHeap best, int k, int patience)
        {
            _best = best;
            _k = k;
            _patience = patience;
            best.Clear();
        }

        public readonly bool Exhausted => _quiet >= _patience;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Kept(float distance, int node)
        {
            if (_best.Count < _k) { _best.Push(-distance, node); _changed = true; }
            else if (-distance > _best.TopKey) { _best.ReplaceTop(-distance, node); _changed = true; }
        }

        public void Expanded()
        {
            _quiet = _changed ? 0 : _quiet + 1;
            _changed = false;
        }
    }

    /// <summary>Whether a node reached by the walk may be a result: not removed (when searching) and allowed by the filter.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Keeps(int node, bool excludeDeleted, IIdFilter? filter) =>
        !excludeDeleted || (!IsDeleted(node) && (filter is null || filter.Allows(Label(node))));

    /// <summary>Fetches <paramref name="bytes"/> from <paramref name="v"/> into cache: the whole vector, not only its first line, as the distance needs all of it next.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Prefetch(byte* v, int bytes)
    {
        if (!Sse.IsSupported) return;
        for (int offset = 0; offset < bytes; offset += 64) Sse.Prefetch0(v + offset);
    }

    /// <summary>Fetches what the walk reads of a node from its level-0 record: its code or half-precision vector.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void PrefetchStored(int slot) => Prefetch(Record(slot) + _vectorOffset, _vectorBytes);

    /// <summary>Fetches a node's exact vector (in its record, or apart from it).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void PrefetchExact(int slot) => Prefetch(ExactAddress(slot), _exactBytes);

    /// <summary>How a walk measures its query against a node; a struct per kind, so each walk compiles with its distance inlined.</summary>
    private interface IQueryDistance
    {
        float To(int slot);
        void Prefetch(int slot);
        /// <summary>How many distances ahead a vector is fetched (chosen by measurement per kind).</summary>
        int Ahead { get; }
    }

    /// <summary>The exact vectors: what builds the graph, and what float32 storage searches.</summary>
    private readonly struct ExactDistance(HnswIndex index, float* query) : IQueryDistance
    {
        private readonly HnswIndex _index = index;
        private readonly float* _query = query;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float To(int slot) => _index.Distance(_query, _index.Exact(slot));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Prefetch(int slot) => _index.PrefetchExact(slot);

        // Measured when the walk was written: 8 lines per 128-d vector leave room for about two in flight.
        public int Ahead => 2;
    }

    /// <summary>
    /// Codes against the byte-quantised query: q·x̂ ≈ offset + scale·Σ queryⱼ·codeⱼ (<see cref="ScalarQuantizer.Prepare"/>);
    /// 1 − q·x̂ for inner product and cosine, ‖x̂‖² − 2·q·x̂ + ‖q‖² for L2 (‖x̂‖² stored after the code).
    /// </summary>
    private readonly struct CodeDistance(HnswIndex index, ScalarQuantizer quantizer, sbyte* query, float offset, float scale, float queryNorm) : IQueryDistance
    {
        private readonly HnswIndex _index = index;
        private readonly ScalarQuantizer _quantizer = quantizer;
        private readonly sbyte* _query = query;
        private readonly float _offset = offset, _scale = scale, _queryNorm = queryNorm;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float To(int slot)
        {
            byte* code = _index.Record(slot) + _index._vectorOffset;
            float dot = _offset + _scale * _quantizer.Dot(code, _query);
            return _index.Metric == Metric.L2 ? *(float*)(code + _quantizer.CodeBytes) - 2 * dot + _queryNorm : 1f - dot;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Prefetch(int slot) => _index.PrefetchStored(slot);

        // An 8-bit code is 2–3 cache lines against a float vector's 8, so more of them can be in flight: on 100k × 128, fetching 6
        // or 8 ahead gave 1.1–1.2× the QPS of 2 (alternating runs, ef 80 and 320); 32 (all at once) no better than 8.
        public int Ahead => 8;
    }

    /// <summary>Half-precision vectors against the float query, converted on the fly: what the walk reads with FP16 storage.</summary>
    private readonly struct HalfDistance(HnswIndex index, float* query) : IQueryDistance
    {
        private readonly HnswIndex _index = index;
        private readonly float* _query = query;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float To(int slot) => _index.DistanceToHalves(_query, (ushort*)(_index.Record(slot) + _index._vectorOffset));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Prefetch(int slot) => _index.PrefetchStored(slot);

        // Half a float vector's lines: between float32's 2 and an 8-bit code's 8.
        public int Ahead => 4;
    }

    /// <summary>
    /// The exact vectors kept in half precision beside 8- or 4-bit codes (<see cref="HnswOptions.RefineStorage"/>), against
    /// the float query: what builds that graph. A struct of its own, so FP16 storage's walk tests no flag per distance.
    /// </summary>
    private readonly struct ExactHalfDistance(HnswIndex index, float* query) : IQueryDistance
    {
        private readonly HnswIndex _index = index;
        private readonly float* _query = query;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float To(int slot) => _index.DistanceToHalves(_query, (ushort*)_index.ExactAddress(slot));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Prefetch(int slot) => _index.PrefetchExact(slot);

        public int Ahead => 4;
    }

    /// <summary>The distance searches rank by, from a float query to a vector in half precision.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private float DistanceToHalves(float* query, ushort* halves) =>
        Metric == Metric.L2 ? Distances.SquaredL2Halves(query, halves, Dimension) : 1f - Distances.DotHalves(query, halves, Dimension);

    /// <summary>The distance searches rank by: 1 − inner product (inner product, cosine) or squared L2.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private float Distance(float* a, float* b) =>
        Metric == Metric.L2 ? Distances.SquaredL2(a, b, Dimension) : 1f - Distances.Dot(a, b, Dimension);

    /// <summary>
    /// Refine 0 with 8- or 4-bit codes: how many times k of the walk's best are scored again from their decoded codes. On the
    /// clustered 32-d test sets this took SQ8's largest score error from 0.024 (the byte-rounded query's) below 0.02 (the
    /// codes' own); the recall stayed the same on 100k × 128 at ef 40–320, as the order barely changes.
    /// </summary>
    private const int CodesOnlyRerank = 2;

    /// <summary>Whether each node's exact float32 vector is in memory: in its record (float32) or beside it (compact storage with refine > 0, unless kept in half precision).</summary>
    private bool ExactKept => !_apart || _exactApart && !_exactHalves;

    /// <summary>
    /// A node's vector for building the graph: its exact one where kept, else what its code or halves decode to, written to
    /// <paramref name="buffer"/> (<see cref="Dimension"/> floats).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private float* Vector(int slot, float* buffer)
    {
        if (ExactKept) return Exact(slot);
        byte* stored = _exactHalves ? ExactAddress(slot) : Record(slot) + _vectorOffset;
        var x = new Span<float>(buffer, Dimension);
        if (Quantizer is { } quantizer && !_exactHalves) quantizer.Decode(new ReadOnlySpan<byte>(stored, quantizer.CodeBytes), x);
        else TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(stored, Dimension), x);
        return buffer;
    }

    /// <summary>
    /// Row <paramref name="row"/> of the scratch's room for decoded vectors (a neighbour selection keeps up to 2M, plus the
    /// candidate); none where exact vectors are kept, as <see cref="Vector"/> then never decodes.
    /// </summary>
    private float* DecodeRow(SearchScratch scratch, int row) => ExactKept ? null : scratch.DecodeRows(_maxM0 + 1, Dimension) + (long)row * Dimension;

    // ---- Removal ----------------------------------------------------------------------

    public void Remove(long id)
    {
        if (!_slotOf.TryRemove(id, out int slot)) throw new KeyNotFoundException($"id {id} is not in the index");
        Volatile.Write(ref _deleted[slot >> SegmentBits][slot & SegmentMask], (byte)1);
        _anyDeleted = true;
        Interlocked.Decrement(ref _count);
        Free(slot);
    }

    // ---- Storage ----------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private byte* Record(int slot) => _level0[slot >> SegmentBits] + (long)(slot & SegmentMask) * _recordBytes;

    /// <summary>A node's exact vector, where kept (<see cref="ExactKept"/>): in its record (float32 storage), or in the exact segments beside the codes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private float* Exact(int slot) => !_apart ? (float*)(Record(slot) + _vectorOffset) : (float*)ExactAddress(slot);

    /// <summary>Where a node's exact vector starts, float32 or half precision (<see cref="HnswOptions.RefineStorage"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private byte* ExactAddress(int slot) => !_apart ? Record(slot) + _vectorOffset : _exact[slot >> SegmentBits] + (long)(slot & SegmentMask) * _exactBytes;

    private long Label(int slot) => _labels[slot >> SegmentBits][slot & SegmentMask];
    private int LevelOf(int slot) => _levels[slot >> SegmentBits][slot & SegmentMask];
    private int[]? UpperLinks(int slot) => _upper[slot >> SegmentBits][slot & SegmentMask];
    private bool IsDeleted(int slot) => _anyDeleted && Volatile.Read(ref _deleted[slot >> SegmentBits][slot & SegmentMask]) != 0;
    private object Stripe(int slot) => _stripes[slot & (LockStripes - 1)];

    /// <summary>A link list: count, then the links. Level 0 lives in the record; upper levels in the node's array.</summary>
    private int* Links(int slot, int level)
    {
        if (level == 0) return (int*)Record(slot);
        var upper = UpperLinks(slot)!;
        return (int*)Unsafe.AsPointer(ref upper[(level - 1) * (M + 1)]);
    }

    /// <summary>Upper-level link lists live on the pinned heap: searches hold raw pointers into them.</summary>
    private int[] NewUpperLinks(int level) => GC.AllocateArray<int>(level * (M + 1), pinned: true);

    private static long Pack(int slot, int level) => ((long)level << 32) | (uint)slot;
    private static int EntrySlot(long entry) => (int)(entry & 0xFFFFFFFF);
    private static int TopLevel(long entry) => (int)(entry >> 32);

    private void EnsureCapacity(int slots)
    {
        int segments = (slots + SegmentSize - 1) / SegmentSize;
        if (segments <= _level0.Length) return;
        var level0 = new byte*[segments];
        var exact = new byte*[_exactApart ? segments : 0];
        var labels = new long[segments][];
        var levels = new int[segments][];
        var upper = new int[]?[segments][];
        var deleted = new byte[segments][];
        Array.Copy(_level0, level0, _level0.Length);
        Array.Copy(_exact, exact, _exact.Length);
        Array.Copy(_labels, labels, _labels.Length);
        Array.Copy(_levels, levels, _levels.Length);
        Array.Copy(_upper, upper, _upper.Length);
        Array.Copy(_deleted, deleted, _deleted.Length);
        for (int s = _level0.Length; s < segments; s++)
        {
            level0[s] = NativeHeap.AllocateSegment((nuint)SegmentSize * (nuint)_recordBytes);
            if (_exactApart) exact[s] = NativeHeap.AllocateSegment((nuint)SegmentSize * (nuint)_exactBytes);
            labels[s] = new long[SegmentSize];
            levels[s] = new int[SegmentSize];
            upper[s] = new int[]?[SegmentSize];
            deleted[s] = new byte[SegmentSize];
        }
        // Readers index the segment arrays by slot; publish the new ones before any new slot.
        _labels = labels; _levels = levels; _upper = upper; _deleted = deleted;
        _exact = exact;
        _level0 = level0;
    }

    private SearchScratch RentScratch()
    {
        lock (_scratchPool)
            if (_scratchPool.Count > 0) return _scratchPool.Pop();
        return new SearchScratch(Math.Max(1024, Volatile.Read(ref _reserved)));
    }

    private void ReturnScratch(SearchScratch scratch)
    {
        lock (_scratchPool) _scratchPool.Push(scratch);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        FreeSegments();
        NativeHeap.Trim();
        GC.SuppressFinalize(this);
    }

    private void FreeSegments()
    {
        foreach (byte* segment in _level0) NativeHeap.Free(segment, (nuint)SegmentSize * (nuint)_recordBytes);
        foreach (byte* segment in _exact) NativeHeap.Free(segment, (nuint)SegmentSize * (nuint)_exactBytes);
        _level0 = [];
        _exact = [];
    }

    // ---- Files ------------------------------------------------------------------------

    public void Save(string path)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Volatile.Read(ref _unrepaired) > 0) { RepairReachability(); RefreshBlocks(); }
        int slots = SlotCount;
        var header = new IndexFile.Header(Kind, (int)Metric, Dimension, slots, new Dictionary<string, long>
        {
            ["m"] = M,
            ["ef_construction"] = Options.EfConstruction,
            ["ef_search"] = EfSearch,
            ["seed"] = (long)Options.Seed,
            ["entry"] = Volatile.Read(ref _entry),
            ["storage"] = (long)Options.Storage,
            ["refine"] = Refine,
            ["refine_storage"] = (long)Options.RefineStorage,
            ["trained"] = IsTrained ? 1 : 0,
            ["reuse"] = Options.ReuseRemovedSlots ? 1 : 0,
            ["layout"] = 1,
        });
        AtomicFile.Write(path, stream =>
        {
            var writer = new IndexFile.Writer(stream, header);
            WriteNativeSegments(writer, "level0", _level0, slots, _recordBytes);
            WriteBySegment(writer, "labels", _labels, slots);
            WriteBySegment(writer, "levels", _levels, slots);
            WriteBySegment(writer, "deleted", _deleted, slots);
            long upperInts = 0;
            for (int s = 0; s < slots; s++) upperInts += UpperLinks(s)?.Length ?? 0;
            writer.BeginSection("upper", upperInts * 4);
            for (int s = 0; s < slots; s++) if (UpperLinks(s) is { } u) writer.Write(MemoryMarshal.AsBytes(u.AsSpan()));
            if (_apart)
            {
                // An untrained index has no quantiser yet: zero-length ranges stand for none.
                writer.Section("sq_min", MemoryMarshal.AsBytes(Quantizer is { } q ? q.Min : []));
                writer.Section("sq_step", MemoryMarshal.AsBytes(Quantizer is { } r ? r.Step : []));
                WriteNativeSegments(writer, "exact", _exact, slots, _exactApart ? _exactBytes : 0);
                if (Options.Storage == VectorStorage.RaBitQ) WriteBitQuantizer(writer);
            }
            writer.Finish();
        });
    }

    private static void WriteBySegment<T>(IndexFile.Writer writer, string tag, T[][] segments, int slots) where T : unmanaged
    {
        writer.BeginSection(tag, (long)slots * sizeof(T));
        for (int s = 0; s * SegmentSize < slots; s++)
            writer.Write(MemoryMarshal.AsBytes(segments[s].AsSpan(0, Math.Min(SegmentSize, slots - s * SegmentSize))));
    }

    /// <summary>A section of <paramref name="bytes"/> per slot from native segments (level-0 records, exact vectors).</summary>
    private static void WriteNativeSegments(IndexFile.Writer writer, string tag, byte*[] segments, int slots, int bytes)
    {
        writer.BeginSection(tag, (long)slots * bytes);
        for (int s = 0; bytes > 0 && s * SegmentSize < slots; s++)
            writer.Write(new ReadOnlySpan<byte>(segments[s], Math.Min(SegmentSize, slots - s * SegmentSize) * bytes));
    }

    private static void ReadNativeSegments(IndexFile.Reader reader, string tag, byte*[] segments, int slots, int bytes)
    {
        reader.BeginSection(tag, (long)slots * bytes);
        for (int s = 0; bytes > 0 && s * SegmentSize < slots; s++)
            reader.Read(new Span<byte>(segments[s], Math.Min(SegmentSize, slots - s * SegmentSize) * bytes));
    }

    private static void ReadBySegment<T>(IndexFile.Reader reader, string tag, T[][] segments, int slots) where T : unmanaged
    {
        reader.BeginSection(tag, (long)slots * sizeof(T));
        for (int s = 0; s * SegmentSize < slots; s++)
            reader.Read(MemoryMarshal.AsBytes(segments[s].AsSpan(0, Math.Min(SegmentSize, slots - s * SegmentSize))));
    }

    /// <summary>Loads an index written by <see cref="Save"/>, checking its structure and checksum.</summary>
    public static HnswIndex Load(string path)
    {
        using var reader = new IndexFile.Reader(path, Kind);
        var h = reader.Header;
        if (!Enum.IsDefined((Metric)h.Metric)) throw new FileFormatException(path, $"unknown metric code {h.Metric}");
        if (h.Count > int.MaxValue - SegmentSize) throw new FileFormatException(path, $"{h.Count} items is more than an index holds");
        var options = new HnswOptions
        {
            M = (int)h.Parameter("m", path),
            EfConstruction = (int)h.Parameter("ef_construction", path),
            EfSearch = (int)h.Parameter("ef_search", path),
            Seed = (ulong)h.Parameter("seed", path),
            // Files from before quantised storage hold float32 vectors.
            Storage = h.Parameters.TryGetValue("storage", out long storage) ? (VectorStorage)storage : VectorStorage.Float32,
            Refine = h.Parameters.TryGetValue("refine", out long refine) ? (int)Math.Clamp(refine, int.MinValue, int.MaxValue) : null,
            ReuseRemovedSlots = h.Parameters.GetValueOrDefault("reuse") == 1,
            // Files from before half-precision exact vectors keep float32 ones.
            RefineStorage = (VectorStorage)h.Parameters.GetValueOrDefault("refine_storage", (long)VectorStorage.Float32),
        };
        if (!Enum.IsDefined(options.Storage)) throw new FileFormatException(path, $"unknown vector storage code {(long)options.Storage}");
        if (options.Refine < 0) throw new FileFormatException(path, $"refine is {options.Refine}, at least 0 expected");
        if (options.RefineStorage is not (VectorStorage.Float32 or VectorStorage.FP16)
            || options.RefineStorage == VectorStorage.FP16 && (options.Storage is not (VectorStorage.SQ8 or VectorStorage.SQ4) || options.Refine == 0))
            throw new FileFormatException(path, $"refine storage code {(long)options.RefineStorage} does not go with {options.Storage} storage and refine {options.Refine}");
        if (options.M is < 2 or > 1024 || options.EfConstruction < 1 || options.EfSearch < 1)
            throw new FileFormatException(path, $"implausible parameters M={options.M}, efConstruction={options.EfConstruction}, efSearch={options.EfSearch}");
        var index = new HnswIndex(h.Dimension, (Metric)h.Metric, options);
        try
        {
            int slots = (int)h.Count;
            reader.EnsureAvailable((long)slots * (index._recordBytes + sizeof(long) + sizeof(int) + 1), "nodes");
            index.EnsureCapacity(slots);
            index.ReadLevel0(reader, slots, h.Parameters.GetValueOrDefault("layout"));
            ReadBySegment(reader, "labels", index._labels, slots);
            ReadBySegment(reader, "levels", index._levels, slots);
            ReadBySegment(reader, "deleted", index._deleted, slots);
            long upperInts = 0;
            for (int s = 0; s < slots; s++)
            {
                int level = index.LevelOf(s);
                if (level is < 0 or > 64) throw new FileFormatException(path, $"node {s} has level {level}");
                upperInts += (long)level * (options.M + 1);
            }
            reader.BeginSection("upper", upperInts * 4);
            for (int s = 0; s < slots; s++)
            {
                int level = index.LevelOf(s);
                if (level == 0) continue;
                var links = index.NewUpperLinks(level);
                reader.Read(MemoryMarshal.AsBytes(links.AsSpan()));
                index._upper[s >> SegmentBits][s & SegmentMask] = links;
            }
            if (index._apart) index.ReadExact(reader, path, slots, h.Parameters.GetValueOrDefault("trained") == 1);
            reader.Finish();
            index.Validate(path, slots, h.Parameter("entry", path));
            index.RepairReachability();  // files written before the repair existed may hold cut-off items
            index.EncodeBits();
            index.RefreshBlocks();       // the blocks are copies of the neighbours' codes: rebuilt, whatever the file held
            return index;
        }
        catch
        {
            index.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The level-0 records. Layout 0 (files before layout 1) kept a squared norm after every 8-bit code, for inner product
    /// too; such records are read whole and copied without it.
    /// </summary>
    private void ReadLevel0(IndexFile.Reader reader, int slots, long layout)
    {
        int fileRecord = layout == 0 && _apart && Metric != Metric.L2 ? (_vectorOffset + _vectorBytes + 4 + 63) / 64 * 64 : _recordBytes;
        if (fileRecord == _recordBytes) { ReadNativeSegments(reader, "level0", _level0, slots, _recordBytes); return; }
        reader.BeginSection("level0", (long)slots * fileRecord);
        var staged = new byte[fileRecord];
        for (int s = 0; s * SegmentSize < slots; s++)
        {
            int inSegment = Math.Min(SegmentSize, slots - s * SegmentSize);
            for (int i = 0; i < inSegment; i++)
            {
                reader.Read(staged);
                staged.AsSpan(0, _vectorOffset + _vectorBytes).CopyTo(new Span<byte>(_level0[s] + (long)i * _recordBytes, _recordBytes));
            }
        }
    }

    /// <summary>Compact storage's quantiser (empty when untrained, and for FP16) and exact vectors (none with refine 0).</summary>
    private void ReadExact(IndexFile.Reader reader, string path, int slots, bool trained)
    {
        if (slots > 0 && trained != Trained) throw new FileFormatException(path, $"{slots} {Options.Storage} vectors {(Trained ? "but no quantiser" : "with a quantiser it does not use")}");
        int ranges = trained && Options.Storage != VectorStorage.RaBitQ ? Dimension : 0;
        var min = new float[ranges];
        var step = new float[ranges];
        reader.Section("sq_min", MemoryMarshal.AsBytes(min.AsSpan()));
        reader.Section("sq_step", MemoryMarshal.AsBytes(step.AsSpan()));
        if (ranges > 0)
        {
            try { Quantizer = new ScalarQuantizer(min, step, CodeBits); }
            catch (ArgumentException e) { throw new FileFormatException(path, $"quantiser: {e.Message}"); }
        }
        int exactBytes = _exactApart ? _exactBytes : 0;
        reader.EnsureAvailable((long)slots * exactBytes, "exact vectors");
        ReadNativeSegments(reader, "exact", _exact, slots, exactBytes);
        if (Options.Storage == VectorStorage.RaBitQ) ReadBitQuantizer(reader, path, trained);
    }

    /// <summary>Checks what the checksum cannot: every link and count in range, ids unique, a valid entry point.</summary>
    private void Validate(string path, int slots, long entry)
    {
        if (slots > 0 && (EntrySlot(entry) >= slots || entry < 0 || TopLevel(entry) != LevelOf(EntrySlot(entry))))
            throw new FileFormatException(path, $"entry point {entry} does not match the nodes");
        for (int s = 0; s < slots; s++)
        {
            for (int l = 0; l <= LevelOf(s); l++)
            {
                int* list = Links(s, l);
                int count = *list, max = l == 0 ? _maxM0 : M;
                if (count < 0 || count > max) throw new FileFormatException(path, $"node {s} has {count} links at level {l} (at most {max})");
                for (int i = 0; i < count; i++)
                    if ((uint)list[1 + i] >= (uint)slots) throw new FileFormatException(path, $"node {s} links to {list[1 + i]}, beyond the {slots} nodes");
            }
            if (_deleted[s >> SegmentBits][s & SegmentMask] != 0) { _anyDeleted = true; if (Options.ReuseRemovedSlots) _free.Push(s); }
            else
            {
                if (!_slotOf.TryAdd(Label(s), s)) throw new FileFormatException(path, $"id {Label(s)} appears twice");
                _count++;
            }
        }
        _reserved = slots;
        _entry = slots == 0 ? -1 : entry;
    }
}
