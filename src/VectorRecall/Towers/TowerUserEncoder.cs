using VectorRecall.Autograd;
using VectorRecall.Data;
using VectorRecall.Numerics;
using VectorRecall.Retrieval;

namespace VectorRecall.Towers;

/// <summary>
/// A user tower as an <see cref="IUserEncoder"/>, with the stored profile features and recent history
/// of the users it was trained on. The tower runs in evaluation mode without recording, so any number of threads may
/// encode at once: a batch as one autograd pass (its GEMMs shared by the rows), a single caller-buffer encode through the
/// forward-only path (<see cref="TowerInference"/>), which allocates nothing once warm.
/// <para>
/// User ids are the model's user rows, 0 .. <see cref="UserCount"/> − 1. A user it does not know (any
/// other id) is encoded from features alone: its id embedding and history are taken as zero, so its
/// profile features must be given (when the model has any).
/// </para>
/// </summary>
public sealed class TowerUserEncoder : IUserEncoder
{
    private readonly UserTower _tower;
    private readonly Tensor _userFeatures;
    private readonly UserItemLists _history;
    private readonly TowerInference _inference;

    public TowerUserEncoder(UserTower tower, TowerConfig config, Tensor userFeatures, UserItemLists history)
    {
        if (userFeatures.Rows != config.NumUsers || userFeatures.Cols != config.UserFeatures)
            throw new ArgumentException($"user features are {userFeatures}, the tower takes [{config.NumUsers} x {config.UserFeatures}]");
        if (history.UserCount != config.NumUsers) throw new ArgumentException($"histories cover {history.UserCount} users, the tower knows {config.NumUsers}");
        _tower = tower;
        _tower.Eval();
        Config = config;
        _userFeatures = userFeatures;
        _history = history;
        _inference = new TowerInference(tower);
    }

    public TowerConfig Config { get; }
    public int UserCount => Config.NumUsers;
    public int FeatureCount => Config.UserFeatures;
    public int Dimension => Config.EmbeddingDim;
    private bool IsKnown(long userId) => (ulong)userId < (ulong)UserCount;

    /// <summary>
    /// User vectors; only the result is copied out of the pooled forward pass. A row that is not a
    /// usable direction (NaN, infinite, or all zero: features far outside what the model was trained
    /// on overflow the tower) is refused rather than searched.
    /// </summary>
    public Tensor Encode(ReadOnlySpan<UserQuery> queries)
    {
        Tensor vectors;
        using (Tape.Inference()) vectors = _tower.Forward(BatchOf(queries)).Value.Clone();
        return UserVectors.CheckUsable(vectors, queries, "user tower", "the features are far outside the range the model was trained on", "features");
    }

    /// <summary>The rows written into <paramref name="destination"/>, one forward-only pass per query: nothing allocated once warm.</summary>
    public void Encode(ReadOnlySpan<UserQuery> queries, Span<float> destination)
    {
        int d = Dimension;
        if (destination.Length != queries.Length * d) throw new ArgumentException($"{queries.Length} queries need {queries.Length * d} floats, the destination has {destination.Length}");
        for (int r = 0; r < queries.Length; r++)
        {
            ref readonly var q = ref queries[r];
            Validate(q);
            bool known = IsKnown(q.UserId);
            var features = !q.Features.IsEmpty ? q.Features.Span : known ? _userFeatures.Row((int)q.UserId) : default;
            _inference.Encode(known ? (int)q.UserId : -1, features, HistoryOf(q, known), destination.Slice(r * d, d));
        }
        UserVectors.CheckUsable(destination, d, queries, "user tower", "the features are far outside the range the model was trained on", "features");
    }

    /// <summary>The items the behaviour bag reads: the query's own history or the stored one, its latest <see cref="TowerConfig.HistoryLength"/>.</summary>
    private ReadOnlySpan<int> HistoryOf(in UserQuery q, bool known)
    {
        var history = q.History is { } given ? given.AsSpan() : known ? _history.Of((int)q.UserId) : [];
        return history[Math.Max(0, history.Length - Config.HistoryLength)..];
    }

    /// <summary>Checks a query: feature count, finite values, history items in range, and enough to go on for an unknown user.</summary>
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

    private UserBatch BatchOf(ReadOnlySpan<UserQuery> queries)
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
            foreach (int i in HistoryOf(q, known)) items.Add(i);
        }
        return new UserBatch(ids, x, items.ToArray(), offsets);
    }
}
