using VectorRecall.Data;
using VectorRecall.Indexing;
using VectorRecall.Numerics;

namespace VectorRecall.Retrieval;

/// <summary>
/// A training-free ceiling: GF-CF (Shen et al., 2021) over the training graph. With R̃ = D_u^(−1/2) R D_i^(−1/2),
/// the linear filter is P = R̃ᵀR̃ (P_ij = Σ_u r_ui r_uj / (d_u √(d_i d_j))); the ideal low-pass filter keeps P's
/// leading k eigenvectors V, D_i^(−1/2) V Vᵀ D_i^(1/2). A user's scores are its interaction row r times
/// P + α · (the low-pass filter). The query is that row: a dense vector over the items (<see cref="Query"/>), so
/// <see cref="Dimension"/> is the item count. P is dense, items² floats (6.7 GB for 41k items), built in one pass
/// over the user lists (Σ_u d_u² multiply-adds); the eigenvectors come from subspace iteration on R̃ᵀ(R̃·X);
/// a search costs the user's items times the item count, plus items × k for the low-pass part. It is not
/// servable by an ANN index; it shows where the ceiling is, and suits small catalogues.
/// </summary>
public sealed class GraphFilterRetriever : IRetriever
{
    private readonly float[][] _filter;
    /// <summary>The low-pass part as a dot product: user side D_i^(−1/2) V, item side α · D_i^(1/2) V ([items × k]); null when k = 0.</summary>
    private readonly Tensor? _lowPassUser, _lowPassItem;
    private readonly ThreadLocal<float[]> _scores;

    private GraphFilterRetriever(float[][] filter, Tensor? lowPassUser, Tensor? lowPassItem)
    {
        _filter = filter;
        (_lowPassUser, _lowPassItem) = (lowPassUser, lowPassItem);
        _scores = new ThreadLocal<float[]>(() => new float[filter.Length + (lowPassUser?.Cols ?? 0)]);
    }

    /// <summary>Eigenvectors kept by the low-pass part (0: the linear filter alone).</summary>
    public int LowPassRank => _lowPassUser?.Cols ?? 0;

    public string Name => "graph-filter";
    public int Dimension => _filter.Length;
    public int ItemCount => _filter.Length;

    /// <summary>P's row i.</summary>
    public ReadOnlySpan<float> FilterRow(int item) => _filter[item];

    /// <summary>
    /// Builds P from the training lists, and with <paramref name="lowPassRank"/> k &gt; 0 the ideal low-pass part weighted
    /// by <paramref name="lowPassWeight"/> (GF-CF's Gowalla setting: k = 256, α = 0.3). Refuses a catalogue whose items²
    /// floats would not fit in <paramref name="maxBytes"/> (default: three quarters of the memory available to the process).
    /// </summary>
    public static GraphFilterRetriever Build(UserItemLists train, int items, int lowPassRank = 0, float lowPassWeight = 0.3f, long maxBytes = 0, IProgress<int>? progress = null)
    {
        if (lowPassRank < 0 || lowPassRank > items) throw new ArgumentOutOfRangeException(nameof(lowPassRank), $"the low-pass rank must be in [0, {items}], got {lowPassRank}");
        if (items < 1) throw new ArgumentException("the graph filter needs at least one item");
        if (maxBytes <= 0) maxBytes = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 4 * 3;
        long bytes = (long)items * items * sizeof(float);
        if (bytes > maxBytes)
            throw new InsufficientMemoryException($"the graph filter over {items:N0} items needs {bytes / (1 << 20):N0} MiB for its dense item-item matrix; {maxBytes / (1 << 20):N0} MiB are available");
        // Row i of P = R̃ᵀR̃ is Σ over item i's users u of R̃_ui · (user u's row of R̃).
        var r = train.NormalizedMatrix(items);
        var usersOf = r.Transposed;
        var filter = new float[items][];
        int done = 0;
        Parallel.For(0, items, Threads.Options, i =>
        {
            var row = filter[i] = new float[items];
            var (users, weights) = usersOf.Row(i);
            for (int e = 0; e < users.Length; e++)
            {
                var (columns, values) = r.Row(users.Span[e]);
                ReadOnlySpan<int> cs = columns.Span;
                ReadOnlySpan<float> vs = values.Span;
                float w = weights.Span[e];
                for (int c = 0; c < cs.Length; c++) row[cs[c]] += w * vs[c];
            }
            int n = Interlocked.Increment(ref done);
            if (n % 4096 == 0) progress?.Report(n);
        });
        if (lowPassRank == 0) return new GraphFilterRetriever(filter, null, null);
        var (user, item) = IdealLowPassFilter.Factors(train, items, [lowPassRank])[0];
        TensorPrimitives.Multiply(item.Span, lowPassWeight, item.Span);
        return new GraphFilterRetriever(filter, user, item);
    }

    /// <summary>A user's query: 1 at each item of its history, 0 elsewhere (<paramref name="into"/> is as long as the catalogue).</summary>
    public static void Query(ReadOnlySpan<int> history, Span<float> into)
    {
        into.Clear();
        foreach (int i in history) into[i] = 1f;
    }

    public int Search(ReadOnlySpan<float> query, int k, Span<long> ids, Span<float> scores, SearchOptions? options = null)
    {
        if (query.Length != Dimension) throw new ArgumentException($"the graph filter's query is a row over its {Dimension:N0} items, got {query.Length} values");
        var buffer = _scores.Value!;
        Array.Clear(buffer);
        var s = buffer.AsSpan(0, ItemCount);
        var t = buffer.AsSpan(ItemCount);
        for (int i = 0; i < query.Length; i++)
        {
            if (query[i] == 0) continue;
            TensorPrimitives.MultiplyAdd(_filter[i], query[i], s, s);
            if (_lowPassUser is not null) TensorPrimitives.MultiplyAdd(_lowPassUser.Row(i), query[i], t, t);
        }
        if (_lowPassItem is not null)
            for (int j = 0; j < s.Length; j++) s[j] += Distances.Dot(_lowPassItem.Row(j), t);
        var filter = options?.Filter;
        var heap = new TopK(Math.Min(k, ItemCount), ids, scores);
        for (int j = 0; j < s.Length; j++)
            if (filter is null || filter.Allows(j)) heap.Push(j, s[j]);
        return heap.SortBestFirst();
    }

    public void SearchBatch(ReadOnlySpan<float> queries, int k, Span<long> ids, Span<float> scores, Span<int> counts, IReadOnlyList<SearchOptions?>? options = null)
    {
        int n = counts.Length, d = Dimension;
        if (queries.Length != (long)n * d) throw new ArgumentException($"{queries.Length} query values for {n} queries of {d}");
        // Spans cannot cross into the parallel loop: it works on copies.
        var (q, allIds, allScores, found) = (queries.ToArray(), new long[n * k], new float[n * k], new int[n]);
        Parallel.For(0, n, Threads.Options, r =>
        {
            int c = found[r] = Search(q.AsSpan(r * d, d), k, allIds.AsSpan(r * k, k), allScores.AsSpan(r * k, k), options?[r]);
            allIds.AsSpan(r * k + c, k - c).Fill(-1);
            allScores.AsSpan(r * k + c, k - c).Fill(float.NaN);
        });
        allIds.CopyTo(ids);
        allScores.CopyTo(scores);
        found.CopyTo(counts);
    }

    public void Dispose() => _scores.Dispose();
}
