using System.Runtime.CompilerServices;
using System.Buffers;
using System.Diagnostics;
using VectorRecall.Data;
using VectorRecall.Indexing;
using VectorRecall.Numerics;
using VectorRecall.Retrieval;
using VectorRecall.Towers;

namespace VectorRecall.Serving;

/// <summary>One recall: item rows best first with the bundle's ids for them, their scores, and the time it took.</summary>
public sealed record RecallResult(IdMap Items, int[] ItemRows, float[] Scores, double LatencyMs)
{
    /// <summary>Where a partial answer was accepted: what the retriever says is missing from this one (null when not asked).</summary>
    public PartialAnswer? Partial { get; init; }

    /// <summary>The items' ids as text (integers in their canonical form).</summary>
    public string[] ItemKeys => [.. ItemRows.Select(r => Items[r])];

    /// <summary>The items' ids as integers; refused by a bundle whose item ids are not all integers.</summary>
    public long[] ItemIds => Items.ToNumbers(ItemRows);
}

/// <summary>
/// Online recall from a serving bundle of any kind: encode the user (<see cref="IUserEncoder"/>), search
/// (<see cref="IRetriever"/>: HNSW or exact search, TDM beam search, the semantic-id trie) with the
/// user's seen items refused inside the search when asked, and map item rows to item ids. Safe for any
/// number of threads at once.
/// </summary>
public sealed class RecallService : IDisposable
{
    private readonly IUserEncoder _encoder;
    private readonly IRetriever _retriever;
    private readonly UserItemLists _seen;
    private readonly string _directory;

    private RecallService(string directory, BundleParts parts)
    {
        _directory = directory;
        Kind = parts.Kind;
        _encoder = parts.Encoder;
        _retriever = parts.Retriever;
        Items = parts.ItemIds;
        Users = parts.UserIds;
        (_retriever as ILiveItemRetriever)?.NameLiveRowsIn(Items);
        _seen = parts.Seen;
    }

    public BundleKind Kind { get; }
    public int UserCount => _encoder.UserCount;
    public int ItemCount => _retriever.ItemCount;
    public int FeatureCount => _encoder.FeatureCount;
    public IUserEncoder Encoder => _encoder;
    public IRetriever Retriever => _retriever;

    /// <summary>The bundle's vector index (two-tower bundles), else null.</summary>
    public IVectorIndex? Index => (_retriever as IndexRetriever)?.Index;

    /// <summary>Loads and verifies a bundle of any kind written by <see cref="ServingBundle"/>.</summary>
    public static RecallService FromBundle(string directory) => new(directory, ServingBundle.Open(directory));

    /// <summary>
    /// Serves a two-tower or sequence bundle's users through <paramref name="retriever"/> instead of the bundle's own index
    /// (which is not loaded): a retriever over the same item rows, such as a shard cluster's. The service disposes it.
    /// </summary>
    public static RecallService FromBundle(string directory, IRetriever retriever)
    {
        ArgumentNullException.ThrowIfNull(retriever);
        return new(directory, ServingBundle.Open(directory, retriever));
    }

    /// <summary>
    /// The <paramref name="topK"/> items for one user. <paramref name="userFeatures"/> may be empty for a
    /// known user (its stored profile is used); <paramref name="excludeSeen"/> leaves out the items the
    /// user already interacted with.
    /// </summary>
    public RecallResult Recall(long userId, ReadOnlySpan<float> userFeatures, int topK, bool excludeSeen = false) =>
        Recall(new UserQuery(userId, userFeatures.ToArray()), topK, excludeSeen);

    /// <summary>
    /// The <paramref name="topK"/> items for one query (stored or given features and history); <paramref name="width"/> &gt; 0
    /// is this search's ef or beam, <paramref name="patience"/> &gt; 0 an HNSW walk's patience (<see cref="SearchOptions.Patience"/>).
    /// </summary>
    public RecallResult Recall(UserQuery query, int topK, bool excludeSeen = false, int width = 0, int patience = 0)
    {
        long start = Stopwatch.GetTimestamp();
        CheckTopK(topK);
        var rows = new int[topK];
        var scores = new float[topK];
        int found = Recall(query, topK, rows, scores, excludeSeen, width, patience);
        if (found < topK) { Array.Resize(ref rows, found); Array.Resize(ref scores, found); }
        return new RecallResult(Items, rows, scores, Stopwatch.GetElapsedTime(start).TotalMilliseconds);
    }

    /// <summary>
    /// As <see cref="Recall(UserQuery, int, bool, int, int)"/>, into the caller's buffers (at least <paramref name="topK"/> long):
    /// item rows best first (their ids are <see cref="Items"/>[row]) and scores; returns how many were found. With an encoder
    /// that has a forward-only path (two-tower, sequence) and an HNSW or exact index this allocates nothing once warm.
    /// </summary>
    public int Recall(UserQuery query, int topK, Span<int> itemRows, Span<float> scores, bool excludeSeen = false, int width = 0, int patience = 0)
    {
        CheckBuffers(topK, itemRows.Length, scores.Length);
        int dim = _encoder.Dimension;
        var vector = ArrayPool<float>.Shared.Rent(dim);
        var ids = ArrayPool<long>.Shared.Rent(topK);
        try
        {
            Encode(query, vector.AsSpan(0, dim));
            int found = _retriever.Search(vector.AsSpan(0, dim), topK, ids, scores, OptionsFor(query, excludeSeen, width, patience));
            for (int i = 0; i < found; i++) itemRows[i] = (int)ids[i];
            return found;
        }
        finally
        {
            ArrayPool<float>.Shared.Return(vector);
            ArrayPool<long>.Shared.Return(ids);
        }
    }

    /// <summary>
    /// As <see cref="Recall(UserQuery, int, Span{int}, Span{float}, bool, int, int)"/>, awaiting a retriever that waits on other
    /// processes (a shard cluster) instead of blocking the thread; with one that computes in place it completes at once
    /// and allocates no more than the synchronous call. With <paramref name="partial"/>, a retriever with a part down (a
    /// shard cluster) answers from the rest and names the missing parts there instead of throwing.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<int> RecallAsync(UserQuery query, int topK, Memory<int> itemRows, Memory<float> scores, bool excludeSeen = false, int width = 0, PartialAnswer? partial = null, int patience = 0)
    {
        CheckBuffers(topK, itemRows.Length, scores.Length);
        int dim = _encoder.Dimension;
        var vector = ArrayPool<float>.Shared.Rent(dim);
        var ids = ArrayPool<long>.Shared.Rent(topK);
        try
        {
            Encode(query, vector.AsSpan(0, dim));
            int found = await _retriever.SearchAsync(vector.AsMemory(0, dim), topK, ids.AsMemory(0, topK), scores[..topK], OptionsFor(query, excludeSeen, width, patience, partial));
            var rows = itemRows.Span;
            for (int i = 0; i < found; i++) rows[i] = (int)ids[i];
            return found;
        }
        finally
        {
            ArrayPool<float>.Shared.Return(vector);
            ArrayPool<long>.Shared.Return(ids);
        }
    }

    /// <summary>A valid top-k, and caller buffers that hold it.</summary>
    private void CheckBuffers(int topK, int rows, int scores)
    {
        CheckTopK(topK);
        if (rows < topK || scores < topK) throw new ArgumentException($"the buffers hold {Math.Min(rows, scores)} results, top-k is {topK}");
    }

    /// <summary>One query's user vector into <paramref name="vector"/>.</summary>
    private void Encode(UserQuery query, Span<float> vector) => _encoder.Encode(new ReadOnlySpan<UserQuery>(in query), vector);

    /// <summary>
    /// Recall for many users at once: one batched encoder pass, then one batch search on all cores.
    /// <paramref name="userFeatures"/> ([users × features]) may be null when every user is known.
    /// Each result carries the whole batch's latency.
    /// </summary>
    public RecallResult[] BatchRecall(ReadOnlySpan<long> userIds, Tensor? userFeatures, int topK, bool excludeSeen = false) =>
        BatchRecall(QueriesOf(userIds, userFeatures), topK, excludeSeen);

    /// <summary>Recall for many queries at once (one encoder pass, one batch search); each result carries the whole batch's latency.</summary>
    public RecallResult[] BatchRecall(ReadOnlySpan<UserQuery> queries, int topK, bool excludeSeen = false, int width = 0, int patience = 0)
    {
        long start = Stopwatch.GetTimestamp();
        var batch = PrepareBatch(queries, topK, excludeSeen, width, patience, allowPartial: false);
        if (batch is null) return [];
        _retriever.SearchBatch(batch.Vectors.Span, topK, batch.Ids, batch.Scores, batch.Counts, batch.Options);
        return batch.Results(topK, start);
    }

    /// <summary>
    /// As <see cref="BatchRecall(ReadOnlySpan{UserQuery}, int, bool, int, int)"/>, awaiting a retriever that waits on other
    /// processes (a shard cluster) instead of blocking the thread. With <paramref name="allowPartial"/>, a retriever with a
    /// part down answers each query from the rest and names the missing parts in its result's <see cref="RecallResult.Partial"/>.
    /// </summary>
    public async ValueTask<RecallResult[]> BatchRecallAsync(ReadOnlyMemory<UserQuery> queries, int topK, bool excludeSeen = false, int width = 0, bool allowPartial = false, int patience = 0)
    {
        long start = Stopwatch.GetTimestamp();
        var batch = PrepareBatch(queries.Span, topK, excludeSeen, width, patience, allowPartial);
        if (batch is null) return [];
        await _retriever.SearchBatchAsync(batch.Vectors.Data.AsMemory(batch.Vectors.Offset, batch.Vectors.Length), topK, batch.Ids, batch.Scores, batch.Counts, batch.Options);
        return batch.Results(topK, start);
    }

    /// <summary>A batch's user vectors, per-query options and result buffers (null for no queries).</summary>
    private Batch? PrepareBatch(ReadOnlySpan<UserQuery> queries, int topK, bool excludeSeen, int width, int patience, bool allowPartial)
    {
        CheckTopK(topK);
        if (queries.IsEmpty) return null;
        var vectors = _encoder.Encode(queries);
        int n = queries.Length;
        SearchOptions?[]? options = null;
        if (excludeSeen || width > 0 || patience > 0 || allowPartial)
        {
            options = new SearchOptions?[n];
            for (int r = 0; r < n; r++) options[r] = OptionsFor(queries[r], excludeSeen, width, patience, allowPartial ? new PartialAnswer() : null);
        }
        return new Batch(this, vectors, options, new long[n * topK], new float[n * topK], new int[n]);
    }

    private sealed record Batch(RecallService Service, Tensor Vectors, SearchOptions?[]? Options, long[] Ids, float[] Scores, int[] Counts)
    {
        /// <summary>Each query's results, every one carrying the whole batch's latency from <paramref name="start"/>.</summary>
        public RecallResult[] Results(int k, long start)
        {
            double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            var results = new RecallResult[Counts.Length];
            for (int r = 0; r < results.Length; r++)
                results[r] = Service.Collect(Ids.AsSpan(r * k, Counts[r]), Scores.AsSpan(r * k, Counts[r]), ms, Options?[r]?.Partial);
            return results;
        }
    }

    /// <summary>Every item's vector ([items × dim], row i = item row i), read from a two-tower or semantic-id bundle when asked for (exact evaluation, export).</summary>
    public Tensor LoadItemVectors() => ServingBundle.LoadItemVectors(_directory, ItemCount, _encoder.Dimension);

    /// <summary>External item ids, by item row.</summary>
    public IdMap Items { get; }

    /// <summary>External user ids, by user row (rows 0 .. n − 1 for bundles written before user ids were kept).</summary>
    public IdMap Users { get; }

    /// <summary>User vectors ([users × dim]) as recall computes them, for evaluation and export.</summary>
    public Tensor EncodeUsers(ReadOnlySpan<long> userIds, Tensor? userFeatures = null) => _encoder.Encode(QueriesOf(userIds, userFeatures));

    public bool IsKnown(long userId) => (ulong)userId < (ulong)UserCount;

    private void CheckTopK(int topK)
    {
        if (topK <= 0 || topK > ItemCount) throw new ArgumentOutOfRangeException(nameof(topK), $"top-k must be in [1, {ItemCount}] (the number of items), got {topK}");
    }

    private UserQuery[] QueriesOf(ReadOnlySpan<long> userIds, Tensor? features)
    {
        int n = userIds.Length;
        if (features is not null && (features.Rows != n || features.Cols != FeatureCount))
            throw new ArgumentException($"user features must be [{n} x {FeatureCount}] (one row of {FeatureCount} per user), got {features}");
        var queries = new UserQuery[n];
        for (int r = 0; r < n; r++)
            queries[r] = new UserQuery(userIds[r], features is null ? default : features.Data.AsMemory(features.Offset + r * FeatureCount, FeatureCount));
        return queries;
    }

    /// <summary>
    /// A query's search options: when excluding, the items it has seen (stored and given history) as a
    /// filter the retriever applies where it collects results — one hash lookup per candidate, and no
    /// over-fetch however long the history — the width and the patience.
    /// </summary>
    private SearchOptions? OptionsFor(in UserQuery q, bool excludeSeen, int width, int patience, PartialAnswer? partial = null) =>
        SearchOptions.Of(excludeSeen ? ExcludedIds.Of(IsKnown(q.UserId) ? _seen.Of((int)q.UserId) : [], q.History) : null, width, partial, patience);

    private RecallResult Collect(ReadOnlySpan<long> ids, ReadOnlySpan<float> scores, double latencyMs, PartialAnswer? partial)
    {
        var rows = new int[ids.Length];
        for (int i = 0; i < ids.Length; i++) rows[i] = (int)ids[i];
        return new RecallResult(Items, rows, scores.ToArray(), latencyMs) { Partial = partial };
    }

    public void Dispose() => _retriever.Dispose();
}
