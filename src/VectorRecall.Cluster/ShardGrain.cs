using Orleans.Concurrency;
using VectorRecall.Indexing;
using VectorRecall.Serving;

namespace VectorRecall.Cluster;

/// <summary>
/// A shard's index in one silo's memory, with its log's changes applied (<see cref="LiveShard"/>). Activation opens the
/// shard set's manifest, loads this shard's file (its size and checksum checked first) and replays the shard's log, on
/// the thread pool; deactivation frees it once no search uses it. A query of the wrong width or a non-positive k is
/// refused with an <see cref="ArgumentException"/>, which reaches the caller.
/// </summary>
/// <remarks>
/// An Orleans activation runs one turn at a time, which would hold a replica to one core. Searches are read-only and
/// the index is safe for concurrent searches (and for changes beside them), so the grain is reentrant and each search
/// runs on the thread pool: one replica uses every core its silo gives it. Changes are applied inside the grain's turns,
/// one batch at a time. The shard is counted out to each user and disposed by the last.
/// </remarks>
[ReplicaPlacement, Reentrant]
internal sealed class ShardGrain(ShardSetLocation location, ILocalSiloDetails silo) : Grain, IShardGrain
{
    private LiveShard? _shard;
    /// <summary>The activation's own hold on the shard (1 while active) plus one per search or apply running.</summary>
    private int _holders = 1;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        long shard = this.GetPrimaryKeyLong(out _);
        var set = ShardSet.Open(location.Directory);
        if (shard < 0 || shard >= set.Shards) throw new ArgumentOutOfRangeException(nameof(shard), $"shard {shard} is not in the set of {set.Shards} at '{location.Directory}'");
        _shard = await Task.Run(() => LiveShard.Load(set, (int)shard), cancellationToken);
        // A change whose passing to this replica failed (a timeout while the silo was busy) is on disk: read it within a second.
        this.RegisterGrainTimer(Refresh, new GrainTimerCreationOptions(RefreshPeriod, RefreshPeriod) { KeepAlive = false });
    }

    private static readonly TimeSpan RefreshPeriod = TimeSpan.FromSeconds(1);

    private Task Refresh(CancellationToken cancellation)
    {
        var shard = Hold();
        try { shard.Refresh(); }
        finally { Release(); }
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        Release();
        return Task.CompletedTask;
    }

    public Task<ShardStatus> Status()
    {
        long shard = this.GetPrimaryKeyLong(out string? replica);
        return Task.FromResult(new ShardStatus((int)shard, replica ?? "", silo.SiloAddress.ToString(), _shard?.Index.Count ?? 0));
    }

    public async Task<ShardHits> Search(ShardQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        var shard = Hold();
        try { return await Task.Run(() => Search(shard, query)); }
        finally { Release(); }
    }

    public Task Apply(ShardUpdates updates)
    {
        ArgumentNullException.ThrowIfNull(updates);
        var shard = Hold();
        try { shard.Apply([.. updates.Entries.Select(u => u.ToEntry())], updates.First); }
        finally { Release(); }
        return Task.CompletedTask;
    }

    private static ShardHits Search(LiveShard shard, ShardQuery query)
    {
        var index = shard.Index;
        if (query.Vector is null || query.Vector.Length != index.Dimension)
            throw new ArgumentException($"the query vector has {query.Vector?.Length ?? 0} values; this shard's items have {index.Dimension}");
        if (query.K < 1) throw new ArgumentException($"k must be at least 1, got {query.K}");
        int k = Math.Min(query.K, index.Count);
        if (k == 0) return ShardHits.Empty;
        var rows = new long[k];
        var scores = new float[k];
        var filter = query.ExcludedRows is { Length: > 0 } excluded ? ExcludedIds.Of(excluded) : null;
        int found = index.Search(query.Vector, k, rows, scores, SearchOptions.Of(filter, query.Ef));
        if (found < k) (rows, scores) = (rows[..found], scores[..found]);
        return new ShardHits(rows, scores, KeysOf(shard, rows));
    }

    /// <summary>The ids of the live items among <paramref name="rows"/> (null where none is live).</summary>
    private static string?[]? KeysOf(LiveShard shard, long[] rows)
    {
        string?[]? keys = null;
        for (int i = 0; i < rows.Length; i++)
            if (shard.NameOf(rows[i]) is { } key)
                (keys ??= new string?[rows.Length])[i] = key;
        return keys;
    }

    /// <summary>The shard, held for one search or apply; refused once the activation has let go of it.</summary>
    private LiveShard Hold()
    {
        for (int holders = Volatile.Read(ref _holders); ; holders = Volatile.Read(ref _holders))
        {
            if (holders == 0 || _shard is null) throw new InvalidOperationException("the shard is not loaded");
            if (Interlocked.CompareExchange(ref _holders, holders + 1, holders) == holders) return _shard;
        }
    }

    private void Release()
    {
        if (Interlocked.Decrement(ref _holders) == 0) _shard?.Dispose();
    }
}
