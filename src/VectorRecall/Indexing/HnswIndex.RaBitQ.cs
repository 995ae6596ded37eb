using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using VectorRecall.Numerics;

namespace VectorRecall.Indexing;

/// <summary>
/// <see cref="VectorStorage.RaBitQ"/> storage (SymphonyQG's layout, Gou et al., SIGMOD 2025): each level-0 record holds, beside
/// its links, its neighbours' 1-bit codes in <see cref="FastScan"/> blocks of 32 with their factors, and the node's own code.
/// A walk that expands a node reads that one record and estimates all its neighbours in one pass, where a plain walk fetches
/// every unvisited neighbour's vector from its own record; it computes the exact distance only of the nodes it expands, from
/// the exact vectors kept apart, so results carry exact scores and need no re-ranking. The blocks are copies of the
/// neighbours' codes, rebuilt after links change (<see cref="RefreshBlocks"/>): searches running while items are added read
/// the old copies, which costs only estimates, never a wrong score.
/// </summary>
public sealed unsafe partial class HnswIndex
{
    private const int FactorFloats = 3;     // scale, add, error of each code in a block, 32 of each

    /// <summary>RaBitQ storage's quantiser (centroid and rotation; trained by <see cref="Train"/> or the first add).</summary>
    internal RaBitQuantizer? BitQuantizer { get; private set; }

    /// <summary>
    /// How far below its estimate a neighbour's distance may lie, in units of the estimate's error scale (about one standard
    /// deviation), for the walk to still queue it (0 trusts the estimates). Wider finds more at the same ef and expands more
    /// nodes; on 1M × 128, margins 0, 0.5 and 1 gave the same recall–QPS frontier.
    /// </summary>
    public float BitMargin { get; set; } = DefaultBitMargin;

    internal const float DefaultBitMargin = 1f;

    private static int BitGroups(int dimension) => RaBitQuantizer.PaddedOf(dimension) / 4;
    private static int BitCodeBytes(int dimension) => RaBitQuantizer.PaddedOf(dimension) / 8;
    private static int BitBlockBytes(int dimension) => FastScan.BlockBytes(BitGroups(dimension)) + FactorFloats * FastScan.BlockSize * 4;
    private int BitBlocks => (_maxM0 + FastScan.BlockSize - 1) / FastScan.BlockSize;
    private int OwnCodeOffset => _vectorOffset + BitBlocks * BitBlockBytes(Dimension);

    /// <summary>Bytes of a RaBitQ record's vector part: the neighbours' blocks, then the node's own code and factors.</summary>
    private static int BitRecordBytes(int dimension, int maxM0) =>
        (maxM0 + FastScan.BlockSize - 1) / FastScan.BlockSize * BitBlockBytes(dimension) + BitCodeBytes(dimension) + FactorFloats * 4;

    private byte* BitBlock(int slot, int block) => Record(slot) + _vectorOffset + (long)block * BitBlockBytes(Dimension);

    /// <summary>Encodes a node's own code and factors into its record (a stored, normalised vector).</summary>
    private void WriteBitCode(int slot, ReadOnlySpan<float> vector)
    {
        var quantizer = BitQuantizer!;
        byte* own = Record(slot) + OwnCodeOffset;
        float[] rented = System.Buffers.ArrayPool<float>.Shared.Rent(quantizer.Padded);
        var factors = quantizer.Encode(vector, new Span<byte>(own, quantizer.CodeBytes), rented);
        System.Buffers.ArrayPool<float>.Shared.Return(rented);
        var f = (float*)(own + quantizer.CodeBytes);
        f[0] = factors.Scale; f[1] = factors.Add; f[2] = factors.Error;
    }

    /// <summary>Encodes every node's own code again from its exact vector (at load: the file's copies are not trusted).</summary>
    private void EncodeBits()
    {
        if (BitQuantizer is null) return;
        Parallel.For(0, SlotCount, Threads.Options, s => WriteBitCode(s, new ReadOnlySpan<float>(Exact(s), Dimension)));
    }

    /// <summary>
    /// Copies every node's current neighbours' codes into its blocks, in link order (all cores): after adds, a reachability
    /// repair, or a load. Unused positions hold zeros, never read. It rewrites every node, so each add costs a pass over the
    /// index (about a second per million items): add in batches.
    /// </summary>
    private void RefreshBlocks()
    {
        if (BitQuantizer is not { } quantizer) return;
        int slots = SlotCount, groups = quantizer.Groups, codeBytes = quantizer.CodeBytes;
        int codeArea = FastScan.BlockBytes(groups);
        // Ranges of slots, each thread gathering the 32 codes of a block into its own buffer.
        Parallel.ForEach(System.Collections.Concurrent.Partitioner.Create(0, slots, 1024), Threads.Options, () => new byte[FastScan.BlockSize * codeBytes], (range, _, gathered) =>
        {
            for (int s = range.Item1; s < range.Item2; s++)
            {
                int* list = Links(s, 0);
                int count = Math.Min(Volatile.Read(ref *list), _maxM0);
                for (int b = 0; b < BitBlocks; b++)
                {
                    byte* block = BitBlock(s, b);
                    var to = (float*)(block + codeArea);
                    new Span<float>(to, FactorFloats * FastScan.BlockSize).Clear();
                    int inBlock = Math.Clamp(count - b * FastScan.BlockSize, 0, FastScan.BlockSize);
                    for (int i = 0; i < inBlock; i++)
                    {
                        byte* own = Record(list[1 + b * FastScan.BlockSize + i]) + OwnCodeOffset;
                        new ReadOnlySpan<byte>(own, codeBytes).CopyTo(gathered.AsSpan(i * codeBytes));
                        var from = (float*)(own + codeBytes);
                        for (int t = 0; t < FactorFloats; t++) to[t * FastScan.BlockSize + i] = from[t];
                    }
                    FastScan.Pack(gathered.AsSpan(0, inBlock * codeBytes), groups, block);
                }
            }
            return gathered;
        }, _ => { });
    }

    /// <summary>
    /// A RaBitQ search: greedy on exact distances down the upper levels, then a best-first walk of level 0 that queues
    /// neighbours by their estimates and keeps expanded nodes by their exact distances. A neighbour is queued when its estimate
    /// less <see cref="BitMargin"/> error bounds beats the ef-th exact distance so far, and keyed by that lower bound, so the
    /// walk ends when nothing queued can still be among the ef best.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int SearchBits(float* q, long entry, int ef, int k, Span<long> ids, Span<float> scores, SearchScratch scratch, IIdFilter? filter)
    {
        var quantizer = BitQuantizer!;
        int groups = quantizer.Groups, codeArea = FastScan.BlockBytes(groups);
        byte* tables = scratch.BitTables(16 * groups);
        var query = quantizer.Prepare(new ReadOnlySpan<float>(q, Dimension), new Span<byte>(tables, 16 * groups), new Span<float>(scratch.RotatedQuery(quantizer.Padded), quantizer.Padded));
        float margin = BitMargin * query.ResidualNorm;
        int* sums = stackalloc int[FastScan.BlockSize];
        float* lowers = stackalloc float[FastScan.BlockSize];

        var exact = new ExactDistance(this, q);
        int current = EntrySlot(entry);
        float currentDist = exact.To(current);
        for (int l = TopLevel(entry); l > 0; l--) current = GreedyStep(exact, current, ref currentDist, l);

        var visited = scratch.Visited;
        var candidates = scratch.Candidates;
        var results = scratch.Results;
        visited.Reset(Volatile.Read(ref _reserved));
        candidates.Clear();
        results.Clear();
        visited.Visit(current);
        candidates.Push(currentDist, current);
        // The index's entry point as a second start, as in every walk (it reaches every item).
        int start = EntrySlot(entry);
        if (visited.Visit(start)) candidates.Push(exact.To(start), start);
        float bound = float.MaxValue;
        ef = Math.Max(ef, k);

        while (candidates.Count > 0)
        {
            float key = candidates.TopKey;
            int node = candidates.TopNode;
            if (results.Count >= ef && key > bound) break;
            candidates.Pop();
            // The next node to expand is, most likely, the new top: fetch its record and vector while this one is worked on.
            if (candidates.Count > 0) PrefetchBits(candidates.TopNode);

            float d = exact.To(node);
            if (results.Count >= ef && d > bound) continue;   // its estimate was low, but it is no nearer than the ef found
            if (Keeps(node, excludeDeleted: true, filter))
            {
                if (results.Count < ef) results.Push(-d, node);
                else results.ReplaceTop(-d, node);
                if (results.Count >= ef) bound = -results.TopKey;
            }

            int* list = Links(node, 0);
            int count = Math.Min(Volatile.Read(ref *list), _maxM0);
            for (int i = 0; i < count; i++) visited.Prefetch(list[1 + i]);
            // The runners-up are often expanded soon after the top: start fetching them too.
            for (int i = 1; i < Math.Min(3, candidates.Count); i++) PrefetchBits(candidates.NodeAt(i));
            float nextKey = candidates.Count > 0 ? candidates.TopKey : float.MaxValue;
            float limit = results.Count >= ef ? bound : float.MaxValue;
            for (int b = 0; b * FastScan.BlockSize < count; b++)
            {
                byte* block = BitBlock(node, b);
                FastScan.Accumulate(block, tables, groups, sums);
                uint near = LowerBounds((float*)(block + codeArea), sums, query, margin, limit, lowers);
                int inBlock = Math.Min(FastScan.BlockSize, count - b * FastScan.BlockSize);
                if (inBlock < FastScan.BlockSize) near &= (1u << inBlock) - 1;
                while (near != 0)
                {
                    int i = System.Numerics.BitOperations.TrailingZeroCount(near);
                    near &= near - 1;
                    int neighbour = list[1 + b * FastScan.BlockSize + i];
                    if (!visited.Visit(neighbour)) continue;
                    float lower = lowers[i];
                    candidates.Push(lower, neighbour);
                    // The nearest queued is expanded next: fetch it now.
                    if (lower < nextKey) { nextKey = lower; PrefetchBits(neighbour); }
                }
            }
        }
        return TakeBest(scratch, k, ids, scores);
    }

    /// <summary>
    /// The 32 codes' lower bounds (estimate less <paramref name="margin"/> error factors) into <paramref name="lowers"/>, and
    /// a mask of those below <paramref name="limit"/>; eight at a time where AVX allows.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint LowerBounds(float* factors, int* sums, in RaBitQuantizer.QueryTables query, float margin, float limit, float* lowers)
    {
        const int n = FastScan.BlockSize;
        uint mask = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var bias = Vector256.Create(query.Bias);
            var unit = Vector256.Create(query.Unit);
            var add = Vector256.Create(query.Add);
            var m = Vector256.Create(margin);
            var lim = Vector256.Create(limit);
            for (int i = 0; i < n; i += 8)
            {
                var sum = Vector256.ConvertToSingle(Vector256.Load(sums + i));
                var estimate = Vector256.Load(factors + n + i) + add + Vector256.Load(factors + i) * (bias + unit * sum);
                var lower = estimate - m * Vector256.Load(factors + 2 * n + i);
                lower.Store(lowers + i);
                mask |= Vector256.LessThan(lower, lim).ExtractMostSignificantBits() << i;
            }
            return mask;
        }
        for (int i = 0; i < n; i++)
        {
            float estimate = RaBitQuantizer.Estimate(query, new RaBitQuantizer.CodeFactors(factors[i], factors[n + i], factors[2 * n + i]), sums[i]);
            lowers[i] = estimate - margin * factors[2 * n + i];
            if (lowers[i] < limit) mask |= 1u << i;
        }
        return mask;
    }

    /// <summary>Fetches what expanding a node reads: its record (links and blocks) and its exact vector.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void PrefetchBits(int slot)
    {
        Prefetch(Record(slot), _recordBytes);
        PrefetchExact(slot);
    }

    /// <summary>Sets RaBitQ storage's centroid from <paramref name="rows"/> (normalised for cosine).</summary>
    private void TrainBits(float[] rows) => BitQuantizer = RaBitQuantizer.Train(rows, Dimension, Options.Seed, Metric);

    private void WriteBitQuantizer(IO.IndexFile.Writer writer) =>
        writer.Section("rabitq_centroid", MemoryMarshal.AsBytes(BitQuantizer is { } b ? b.Centroid : []));

    private void ReadBitQuantizer(IO.IndexFile.Reader reader, string path, bool trained)
    {
        var centroid = new float[trained ? Dimension : 0];
        reader.Section("rabitq_centroid", MemoryMarshal.AsBytes(centroid.AsSpan()));
        if (!trained) return;
        try { BitQuantizer = new RaBitQuantizer(centroid, Options.Seed, Metric); }
        catch (ArgumentException e) { throw new IO.FileFormatException(path, $"RaBitQ centroid: {e.Message}"); }
    }
}
