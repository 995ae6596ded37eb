using System.Buffers;
using System.Numerics;
using System.Runtime.Intrinsics;
using System.Runtime.InteropServices;
using VectorRecall.IO;
using VectorRecall.Numerics;

namespace VectorRecall.Indexing;

/// <summary>
/// Exact search over every stored vector (faiss's <c>IndexFlat</c>). One query runs the SIMD
/// distance kernel over the rows with a top-K heap; a batch multiplies blocks of stored rows by
/// blocks of queries with GEMM and feeds each query's heap, one block of queries per core.
/// Adds, removes and searches may run concurrently (a reader–writer lock orders them).
/// </summary>
public sealed class FlatIndex : IVectorIndex
{
    private const string Kind = "Flat";
    private const int QueryBlock = 64, RowBlock = 1024;

    private readonly ReaderWriterLockSlim _lock = new(LockRecursionPolicy.NoRecursion);
    private readonly Dictionary<long, int> _rowOf = [];
    private float[] _vectors = [];
    private long[] _ids = [];
    private float[] _squaredNorms = [];
    private int _count;

    public FlatIndex(int dimension, Metric metric)
    {
        if (dimension <= 0) throw new ArgumentOutOfRangeException(nameof(dimension), $"dimension must be positive, got {dimension}");
        Dimension = dimension;
        Metric = metric;
    }

    public int Dimension { get; }
    public Metric Metric { get; }
    public int Count => _count;

    /// <summary>Bytes per stored item: the vector, its id and its squared norm (the id map aside).</summary>
    public double BytesPerVector => Dimension * sizeof(float) + sizeof(long) + sizeof(float);

    public bool Contains(long id)
    {
        _lock.EnterReadLock();
        try { return _rowOf.ContainsKey(id); }
        finally { _lock.ExitReadLock(); }
    }

    public void Add(ReadOnlySpan<long> ids, ReadOnlySpan<float> vectors)
    {
        int n = VectorChecks.AddCount(ids, vectors, Dimension);
        _lock.EnterWriteLock();
        try
        {
            foreach (long id in ids) if (_rowOf.ContainsKey(id)) throw new ArgumentException($"id {id} is already in the index");
            Reserve(_count + n);
            for (int i = 0; i < n; i++)
            {
                int row = _count + i;
                var dst = _vectors.AsSpan(row * Dimension, Dimension);
                vectors.Slice(i * Dimension, Dimension).CopyTo(dst);
                if (Metric == Metric.Cosine) VectorChecks.Normalize(dst);
                _squaredNorms[row] = TensorPrimitives.Dot(dst, dst);
                _ids[row] = ids[i];
                _rowOf[ids[i]] = row;
            }
            _count += n;
        }
        finally { _lock.ExitWriteLock(); }
    }

    public void Remove(long id)
    {
        _lock.EnterWriteLock();
        try
        {
            if (!_rowOf.Remove(id, out int row)) throw new KeyNotFoundException($"id {id} is not in the index");
            int last = _count - 1;
            if (row != last)
            {
                _vectors.AsSpan(last * Dimension, Dimension).CopyTo(_vectors.AsSpan(row * Dimension, Dimension));
                _squaredNorms[row] = _squaredNorms[last];
                _ids[row] = _ids[last];
                _rowOf[_ids[row]] = row;
            }
            _count = last;
        }
        finally { _lock.ExitWriteLock(); }
    }

    /// <summary>Exact top-k; of <paramref name="options"/> only the filter applies (exact search has no width).</summary>
    public int Search(ReadOnlySpan<float> query, int k, Span<long> ids, Span<float> scores, SearchOptions? options = null)
    {
        var filter = options?.Filter;
        VectorChecks.Query(query, Dimension, k);
        float[]? rented = null;
        Span<float> q = Dimension <= 1024 ? stackalloc float[Dimension] : (rented = ArrayPool<float>.Shared.Rent(Dimension)).AsSpan(0, Dimension);
        try
        {
            query.CopyTo(q);
            if (Metric == Metric.Cosine) VectorChecks.Normalize(q);
            _lock.EnterReadLock();
            try
            {
                int n = _count, kk = Math.Min(k, n);
                var heap = new TopK(kk, ids, scores);
                var data = _vectors.AsSpan(0, n * Dimension);
                for (int row = 0; row < n; row++)
                {
                    var x = data.Slice(row * Dimension, Dimension);
                    // Internally higher is better: −distance for L2.
                    float s = Metric == Metric.L2 ? -Distances.SquaredL2(q, x) : Distances.Dot(q, x);
                    if (s >= heap.Threshold && (filter is null || filter.Allows(_ids[row]))) heap.Push(_ids[row], s);
                }
                int found = heap.SortBestFirst();
                if (Metric == Metric.L2) TensorPrimitives.Negate(scores[..found], scores[..found]);
                return found;
            }
            finally { _lock.ExitReadLock(); }
        }
        finally { if (rented is not null) ArrayPool<float>.Shared.Return(rented); }
    }

    public void SearchBatch(ReadOnlySpan<float> queries, int k, Span<long> ids, Span<float> scores, Span<int> counts, IReadOnlyList<SearchOptions?>? options = null)
    {
        int nq = VectorChecks.BatchCount(queries, Dimension, k, ids.Length, scores.Length, counts.Length);
        VectorChecks.Options(options, nq);
        if (nq == 0) return;
        var q = queries.ToArray();
        if (Metric == Metric.Cosine) for (int i = 0; i < nq; i++) VectorChecks.Normalize(q.AsSpan(i * Dimension, Dimension));
        // Parallel.For cannot capture spans: work on arrays and copy out.
        var outIds = new long[(long)nq * k];
        var outScores = new float[(long)nq * k];
        var outCounts = new int[nq];
        _lock.EnterReadLock();
        try
        {
            int blocks = (nq + QueryBlock - 1) / QueryBlock;
            Parallel.For(0, blocks, Threads.Options, b =>
            {
                int q0 = b * QueryBlock, qn = Math.Min(QueryBlock, nq - q0);
                SearchBlock(q.AsSpan(q0 * Dimension, qn * Dimension), qn, k,
                    outIds.AsSpan(q0 * k, qn * k), outScores.AsSpan(q0 * k, qn * k), outCounts.AsSpan(q0, qn), options, q0);
            });
        }
        finally { _lock.ExitReadLock(); }
        outIds.CopyTo(ids);
        outScores.CopyTo(scores);
        outCounts.CopyTo(counts);
    }

    /// <summary>
    /// Exact top-k for a block of queries: scores for RowBlock stored rows at a time come from one
    /// GEMM (rows · queriesᵀ, so the rows are read in place and only the small query block is
    /// packed), then each query's heap takes the scores that reach its threshold.
    /// </summary>
    private void SearchBlock(ReadOnlySpan<float> queries, int qn, int k, Span<long> ids, Span<float> scores, Span<int> counts, IReadOnlyList<SearchOptions?>? options, int firstQuery)
    {
        int n = _count, kk = Math.Min(k, n);
        var tile = ArrayPool<float>.Shared.Rent(RowBlock * qn);
        Span<float> thresholds = stackalloc float[qn];
        Span<float> queryNorms = stackalloc float[qn];
        PairwiseDistances.SquaredNorms(queries, qn, Dimension, queryNorms);
        thresholds.Fill(float.NegativeInfinity);
        counts.Clear();
        try
        {
            for (int r0 = 0; r0 < n; r0 += RowBlock)
            {
                int rn = Math.Min(RowBlock, n - r0);
                var rows = _vectors.AsSpan(r0 * Dimension, rn * Dimension);
                // Internally higher is better: the inner product, or −‖q − x‖² for L2.
                if (Metric == Metric.L2)
                {
                    PairwiseDistances.SquaredL2(rows, rn, queries, qn, Dimension, tile.AsSpan(0, rn * qn), _squaredNorms.AsSpan(r0, rn), queryNorms, threads: 1);
                    TensorPrimitives.Negate(tile.AsSpan(0, rn * qn), tile.AsSpan(0, rn * qn));
                }
                else Gemm.Multiply(rows, Dimension, false, queries, Dimension, true, tile.AsSpan(0, rn * qn), qn, rn, qn, Dimension, threads: 1);
                for (int r = 0; r < rn; r++)
                {
                    var row = tile.AsSpan(r * qn, qn);
                    long id = _ids[r0 + r];
                    // Once the heaps fill, few scores reach their query's threshold (about k·ln(n/k) of n): eight are
                    // compared at a time and only those that reach it are offered. NaN reaches none, as the heap refuses it.
                    int j = 0;
                    if (Vector256.IsHardwareAccelerated)
                        for (; j + 8 <= qn; j += 8)
                        {
                            uint reach = Vector256.GreaterThanOrEqual(Vector256.Create<float>(row.Slice(j, 8)), Vector256.Create<float>(thresholds.Slice(j, 8))).ExtractMostSignificantBits();
                            for (; reach != 0; reach &= reach - 1) Offer(j + BitOperations.TrailingZeroCount(reach), row, id, ids, scores, counts, thresholds);
                        }
                    for (; j < qn; j++)
                        if (row[j] >= thresholds[j]) Offer(j, row, id, ids, scores, counts, thresholds);
                }
            }
            for (int j = 0; j < qn; j++)
            {
                var hi = ids.Slice(j * k, k);
                var hs = scores.Slice(j * k, k);
                int found = TopK.SortBestFirst(hi, hs, counts[j]);
                if (Metric == Metric.L2) TensorPrimitives.Negate(hs[..found], hs[..found]);
                hi[found..].Fill(-1);
                hs[found..].Fill(float.NaN);
            }
        }
        finally { ArrayPool<float>.Shared.Return(tile); }

        // Query j's heap takes the row's score unless the query's filter refuses the id.
        void Offer(int j, Span<float> row, long id, Span<long> ids, Span<float> scores, Span<int> counts, Span<float> thresholds)
        {
            if (options?[firstQuery + j]?.Filter is { } filter && !filter.Allows(id)) return;
            var hi = ids.Slice(j * k, kk);
            var hs = scores.Slice(j * k, kk);
            TopK.Push(hi, hs, ref counts[j], id, row[j]);
            thresholds[j] = TopK.ThresholdOf(hs, counts[j]);
        }
    }

    public void Save(string path)
    {
        _lock.EnterReadLock();
        try
        {
            var header = new IndexFile.Header(Kind, (int)Metric, Dimension, _count, new Dictionary<string, long>());
            AtomicFile.Write(path, stream =>
            {
                var writer = new IndexFile.Writer(stream, header);
                writer.Section("ids", MemoryMarshal.AsBytes(_ids.AsSpan(0, _count)));
                writer.Section("vectors", MemoryMarshal.AsBytes(_vectors.AsSpan(0, _count * Dimension)));
                writer.Finish();
            });
        }
        finally { _lock.ExitReadLock(); }
    }

    public static FlatIndex Load(string path)
    {
        using var reader = new IndexFile.Reader(path, Kind);
        var h = reader.Header;
        if (!Enum.IsDefined((Metric)h.Metric)) throw new FileFormatException(path, $"unknown metric code {h.Metric}");
        if (h.Count * h.Dimension > Array.MaxLength) throw new FileFormatException(path, $"{h.Count} vectors of dimension {h.Dimension} are too many for a flat index");
        reader.EnsureAvailable(h.Count * (sizeof(long) + (long)h.Dimension * sizeof(float)), "ids and vectors");
        var index = new FlatIndex(h.Dimension, (Metric)h.Metric);
        int n = (int)h.Count;
        index.Reserve(n);
        reader.Section("ids", MemoryMarshal.AsBytes(index._ids.AsSpan(0, n)));
        reader.Section("vectors", MemoryMarshal.AsBytes(index._vectors.AsSpan(0, n * h.Dimension)));
        reader.Finish();
        for (int row = 0; row < n; row++)
        {
            if (!index._rowOf.TryAdd(index._ids[row], row)) throw new FileFormatException(path, $"id {index._ids[row]} appears twice");
            var x = index._vectors.AsSpan(row * h.Dimension, h.Dimension);
            index._squaredNorms[row] = TensorPrimitives.Dot(x, x);
        }
        index._count = n;
        return index;
    }

    public void Dispose() => _lock.Dispose();

    private void Reserve(int needed)
    {
        if (needed <= _ids.Length) return;
        int capacity = Math.Max(needed, Math.Max(1024, _ids.Length * 2));
        if ((long)capacity * Dimension > Array.MaxLength) capacity = Math.Max(needed, Array.MaxLength / Dimension);
        if ((long)needed * Dimension > Array.MaxLength) throw new InvalidOperationException($"a flat index holds at most {Array.MaxLength / Dimension} vectors of dimension {Dimension}");
        Array.Resize(ref _vectors, capacity * Dimension);
        Array.Resize(ref _ids, capacity);
        Array.Resize(ref _squaredNorms, capacity);
    }
}
