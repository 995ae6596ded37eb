using System.Buffers;
using System.Diagnostics;
using VectorRecall.Autograd;
using VectorRecall.Data;
using VectorRecall.Indexing;
using VectorRecall.IO;
using VectorRecall.Numerics;
using VectorRecall.TwoTower;
using VectorRecall.Towers;

namespace VectorRecall.Serving;

/// <summary>One recall: item ids best first, their scores (inner product with the user vector), and the time it took.</summary>
public sealed record RecallResult(long[] ItemIds, float[] Scores, double LatencyMs);

/// <summary>A user whose features give no usable vector; <see cref="Row"/> is the query's position in its batch.</summary>
public sealed class UserVectorException(int row, string message) : ArgumentException(message)
{
    public int Row { get; } = row;
}

/// <summary>
/// Who to recall for. <paramref name="Features"/> (empty = the stored profile) and
/// <paramref name="History"/> (index ids, oldest first; null = the stored history) replace what the
/// bundle holds for the user; a user the bundle does not know needs its features when the model has any.
/// </summary>
public readonly record struct UserQuery(long UserId, ReadOnlyMemory<float> Features = default, int[]? History = null);

/// <summary>
/// Online recall from a serving bundle: encode the user with the user tower, search the item index,
/// map index ids to item ids. Safe for any number of threads at once (the tower runs in evaluation
/// mode without recording; index searches are concurrent-safe).
/// <para>
/// User ids are the model's user rows, 0 .. <see cref="UserCount"/> − 1. A user the bundle does not
/// know (any other id) is recalled from features alone: its id embedding and history are taken as
/// zero, so its profile features must be given (when the model has any); without them recall fails
/// with a clear error.
/// </para>
/// </summary>
public sealed class RecallService : IDisposable
{
    private readonly UserTower _tower;
    private readonly IVectorIndex _index;
    private readonly long[] _itemIds;
    private readonly Tensor _userFeatures;
    private readonly UserItemLists _history;
    private readonly UserItemLists _seen;
    private readonly string _directory;
    private readonly Lazy<Dictionary<long, int>> _indexIds;

    private RecallService(string directory, TowerConfig config, UserTower tower, IVectorIndex index, long[] itemIds, Tensor userFeatures, UserItemLists history, UserItemLists seen)
    {
        _directory = directory;
        Config = config;
        _tower = tower;
        _tower.Eval();
        _index = index;
        _itemIds = itemIds;
        _userFeatures = userFeatures;
        _history = history;
        _seen = seen;
        _indexIds = new(() =>
        {
            var map = new Dictionary<long, int>(itemIds.Length);
            for (int i = 0; i < itemIds.Length; i++) map.TryAdd(itemIds[i], i);
            return map;
        });
    }

    public TowerConfig Config { get; }
    public int UserCount => Config.NumUsers;
    public int ItemCount => _index.Count;
    public int FeatureCount => Config.UserFeatures;
    public IVectorIndex Index => _index;

    /// <summary>Loads and verifies a bundle written by <see cref="ServingBundle.Save"/>; <paramref name="threads"/> is for the index's batch searches (0 = all cores).</summary>
    public static RecallService FromBundle(string directory, int threads = 0)
    {
        string Path_(string name) => Path.Combine(directory, name);
        var (tower, config) = ServingBundle.LoadUserTower(directory);

        var index = IndexFactory.Load(Path_(ServingBundle.IndexFile), threads);
        try
        {
            if (index.Dimension != config.EmbeddingDim)
                throw new FileFormatException(Path_(ServingBundle.IndexFile), $"holds {index.Dimension}-d vectors but the user tower makes {config.EmbeddingDim}-d ones (a bundle from a different model)");
            var itemIds = ReadArray<long>(Path_(ServingBundle.ItemIdsFile), ElementType.Int64);
            if (itemIds.Length != index.Count) throw new FileFormatException(Path_(ServingBundle.ItemIdsFile), $"maps {itemIds.Length} items but the index holds {index.Count}");
            var features = Npy.ReadMatrix(Path_(ServingBundle.UserFeaturesFile));
            if (features.Rows != config.NumUsers || features.Cols != config.UserFeatures)
                throw new FileFormatException(Path_(ServingBundle.UserFeaturesFile), $"is [{features.Rows} x {features.Cols}], expected [{config.NumUsers} x {config.UserFeatures}]");
            var history = ReadLists(directory, ServingBundle.HistoryOffsetsFile, ServingBundle.HistoryItemsFile, config.NumUsers, config.NumItems);
            var seen = ReadLists(directory, ServingBundle.SeenOffsetsFile, ServingBundle.SeenItemsFile, config.NumUsers, index.Count);
            return new RecallService(directory, config, tower, index, itemIds, features, history, seen);
        }
        catch
        {
            index.Dispose();
            throw;
        }
    }

    private static T[] ReadArray<T>(string path, ElementType type)
    {
        var a = Npy.Read(path);
        if (a.Type != type || a.Shape.Length != 1) throw new FileFormatException(path, $"expected a 1-d {type} array, found {a.Type} [{string.Join(", ", a.Shape)}]");
        return (T[])a.Data;
    }

    private static UserItemLists ReadLists(string directory, string offsetsName, string itemsName, int users, int items)
    {
        var offsets = ReadArray<int>(Path.Combine(directory, offsetsName), ElementType.Int32);
        var values = ReadArray<int>(Path.Combine(directory, itemsName), ElementType.Int32);
        try
        {
            if (offsets.Length != users + 1) throw new ArgumentException($"has {offsets.Length} offsets, expected {users + 1}");
            foreach (int i in values) if ((uint)i >= (uint)items) throw new ArgumentException($"item {i} is outside [0, {items})");
            return new UserItemLists(offsets, values);
        }
        catch (ArgumentException e) { throw new FileFormatException(Path.Combine(directory, offsetsName), e.Message); }
    }

    /// <summary>
    /// The <paramref name="topK"/> items for one user. <paramref name="userFeatures"/> may be empty for a
    /// known user (its stored profile is used); <paramref name="excludeSeen"/> leaves out the items the
    /// user already interacted with.
    /// </summary>
    public RecallResult Recall(long userId, ReadOnlySpan<float> userFeatures, int topK, bool excludeSeen = false) =>
        Recall(new UserQuery(userId, userFeatures.ToArray()), topK, excludeSeen);

    /// <summary>The <paramref name="topK"/> items for one query (stored or given features and history).</summary>
    public RecallResult Recall(UserQuery query, int topK, bool excludeSeen = false)
    {
        long start = Stopwatch.GetTimestamp();
        CheckTopK(topK);
        var vector = Encode([query]);
        var ids = ArrayPool<long>.Shared.Rent(topK);
        var scores = ArrayPool<float>.Shared.Rent(topK);
        try
        {
            int found = _index.Search(vector.Row(0), topK, ids, scores, excludeSeen ? SeenFilter(query) : null);
            var result = Collect(ids.AsSpan(0, found), scores.AsSpan(0, found));
            return result with { LatencyMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds };
        }
        finally
        {
            ArrayPool<long>.Shared.Return(ids);
            ArrayPool<float>.Shared.Return(scores);
        }
    }

    /// <summary>
    /// Recall for many users at once: one batched tower pass, then the index's batch search on all
    /// cores. <paramref name="userFeatures"/> ([users × features]) may be null when every user is known.
    /// Each result carries the whole batch's latency.
    /// </summary>
    public RecallResult[] BatchRecall(ReadOnlySpan<long> userIds, Tensor? userFeatures, int topK, bool excludeSeen = false) =>
        BatchRecall(QueriesOf(userIds, userFeatures), topK, excludeSeen);

    /// <summary>Recall for many queries at once (one tower pass, one batch search); each result carries the whole batch's latency.</summary>
    public RecallResult[] BatchRecall(ReadOnlySpan<UserQuery> queries, int topK, bool excludeSeen = false)
    {
        long start = Stopwatch.GetTimestamp();
        CheckTopK(topK);
        if (queries.IsEmpty) return [];
        var vectors = Encode(queries);
        int k = topK, n = queries.Length;
        IIdFilter?[]? filters = null;
        if (excludeSeen)
        {
            filters = new IIdFilter?[n];
            for (int r = 0; r < n; r++) filters[r] = SeenFilter(queries[r]);
        }
        var ids = new long[n * k];
        var scores = new float[n * k];
        var counts = new int[n];
        _index.SearchBatch(vectors.Span, k, ids, scores, counts, filters);
        var results = new RecallResult[n];
        for (int r = 0; r < n; r++)
            results[r] = Collect(ids.AsSpan(r * k, counts[r]), scores.AsSpan(r * k, counts[r]));
        double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        for (int r = 0; r < n; r++) results[r] = results[r] with { LatencyMs = ms };
        return results;
    }

    /// <summary>Every item's vector ([items × dim], row i = index id i), read from the bundle when asked for (exact evaluation, export).</summary>
    public Tensor LoadItemVectors()
    {
        string path = Path.Combine(_directory, ServingBundle.ItemVectorsFile);
        var vectors = Npy.ReadMatrix(path);
        if (vectors.Rows != ItemCount || vectors.Cols != Config.EmbeddingDim)
            throw new FileFormatException(path, $"is [{vectors.Rows} x {vectors.Cols}], expected [{ItemCount} x {Config.EmbeddingDim}]");
        return vectors;
    }

    /// <summary>External item ids, by index id.</summary>
    public IReadOnlyList<long> ItemIds => _itemIds;

    /// <summary>The index id of an external item id (for histories given by item id).</summary>
    public bool TryGetIndexId(long itemId, out int indexId) => _indexIds.Value.TryGetValue(itemId, out indexId);

    /// <summary>User vectors ([users × dim]) as recall computes them, for evaluation and export.</summary>
    public Tensor EncodeUsers(ReadOnlySpan<long> userIds, Tensor? userFeatures = null) => Encode(QueriesOf(userIds, userFeatures));

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

    /// <summary>Checks a query against the bundle: feature count, finite values, history items in range, and enough to go on for an unknown user.</summary>
    private void Validate(in UserQuery query)
    {
        bool known = IsKnown(query.UserId);
        if (!query.Features.IsEmpty && query.Features.Length != FeatureCount)
            throw new ArgumentException($"user {query.UserId}: {query.Features.Length} features given, the model takes {FeatureCount}");
        if (!known && query.Features.IsEmpty && FeatureCount > 0)
            throw new ArgumentException($"user {query.UserId} is not in the bundle (known users are 0 .. {UserCount - 1}); pass its {FeatureCount} profile features to recall from features alone");
        foreach (float f in query.Features.Span)
            if (!float.IsFinite(f)) throw new ArgumentException($"user {query.UserId}: features contain NaN or infinity");
        if (query.History is { } history)
            foreach (int i in history)
                if ((uint)i >= (uint)Config.NumItems) throw new ArgumentException($"user {query.UserId}: history item {i} is outside [0, {Config.NumItems})");
    }

    private UserBatch UserBatchOf(ReadOnlySpan<UserQuery> queries)
    {
        int n = queries.Length;
        var ids = new int[n];
        var x = new Tensor(n, FeatureCount);
        var offsets = new int[n];
        var items = new List<int>();
        for (int r = 0; r < n; r++)
        {
            ref readonly var q = ref queries[r];
            Validate(q);
            bool known = IsKnown(q.UserId);
            ids[r] = known ? (int)q.UserId : -1;
            if (!q.Features.IsEmpty) q.Features.Span.CopyTo(x.Row(r));
            else if (known) _userFeatures.Row((int)q.UserId).CopyTo(x.Row(r));
            offsets[r] = items.Count;
            var history = q.History is { } given ? given.AsSpan() : known ? _history.Of((int)q.UserId) : [];
            foreach (int i in history[Math.Max(0, history.Length - Config.HistoryLength)..]) items.Add(i);
        }
        return new UserBatch(ids, x, items.ToArray(), offsets);
    }

    /// <summary>
    /// The items a query has seen (stored and given history) as a filter the index applies where it
    /// collects results: one hash lookup per candidate, and no over-fetch however long the history.
    /// </summary>
    private IIdFilter? SeenFilter(in UserQuery q)
    {
        var stored = IsKnown(q.UserId) ? _seen.Of((int)q.UserId) : [];
        var given = q.History ?? [];
        if (stored.IsEmpty && given.Length == 0) return null;
        var seen = new ExcludedIds(stored.Length + given.Length);
        foreach (int item in stored) seen.Add(item);
        foreach (int item in given) seen.Add(item);
        return seen;
    }

    /// <summary>
    /// User vectors; the forward pass runs on pooled buffers and only the result is copied out. A row
    /// that is not a usable direction (NaN, infinite, or all zero: features far outside what the
    /// model was trained on overflow the tower) is refused rather than searched.
    /// </summary>
    private Tensor Encode(ReadOnlySpan<UserQuery> queries)
    {
        Tensor vectors;
        using (Tape.Inference()) vectors = _tower.Forward(UserBatchOf(queries)).Value.Clone();
        for (int r = 0; r < vectors.Rows; r++)
        {
            var row = vectors.Row(r);
            float squared = TensorPrimitives.Dot(row, row);
            if (!float.IsFinite(squared) || squared == 0f)
                throw new UserVectorException(r, $"user {queries[r].UserId}: the user tower's output is {(float.IsFinite(squared) ? "all zero" : "not finite")}; the features are far outside the range the model was trained on");
        }
        return vectors;
    }

    private RecallResult Collect(ReadOnlySpan<long> ids, ReadOnlySpan<float> scores)
    {
        var outIds = new long[ids.Length];
        for (int i = 0; i < ids.Length; i++) outIds[i] = _itemIds[(int)ids[i]];
        return new RecallResult(outIds, scores.ToArray(), 0);
    }

    public void Dispose() => _index.Dispose();
}
