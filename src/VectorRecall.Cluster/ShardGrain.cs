using Orleans.Concurrency;
using VectorRecall.Indexing;
using VectorRecall.Serving;

namespace VectorRecall.Cluster;

/// <summary>
/// A shard's index in one silo's memory. Activation opens the shard set's manifest and loads this shard's file (its
/// size and checksum checked first) on the thread pool; deactivation frees it once no search uses it. A query of the
/// wrong width or a non-positive k is refused with an <see cref="ArgumentException"/>, which reaches the caller.
/// </summary>
/// <remarks>
/// An Orleans activation runs one turn at a time, which would hold a replica to one core. Searches are read-only and
/// the index is safe for concurrent searches, so the grain is reentrant and each search runs on the thread pool: one
/// replica uses every core its silo gives it. The index is counted out to each search and disposed by the last user.
/// </remarks>
[ReplicaPlacement, Reentrant]
internal sealed class ShardGrain(ShardSetLocation location, ILocalSiloDetails silo) : Grain, IShardGrain
{
    private IVectorIndex? _index;
    /// <summary>The activation's own hold on the index (1 while active) plus one per search running.</summary>
    private int _holders = 1;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        long shard = this.GetPrimaryKeyLong(out _);
        var set = ShardSet.Open(location.Directory);
        if (shard < 0 || shard >= set.Shards) throw new ArgumentOutOfRangeException(nameof(shard), $"shard {shard} is not in the set of {set.Shards} at '{location.Directory}'");
        _index = await Task.Run(() => set.LoadShard((int)shard), cancellationToken);
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        Release();
        return Task.CompletedTask;
    }

    public Task<ShardStatus> Status()
    {
        long shard = this.GetPrimaryKeyLong(out string? replica);
        return Task.FromResult(new ShardStatus((int)shard, replica ?? "", silo.SiloAddress.ToString(), _index?.Count ?? 0));
    }

    public async Task<ShardHits> Search(ShardQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        var index = Hold();
        try { return await Task.Run(() => Search(index, query)); }
        finally { Release(); }
    }

    private static ShardHits Search(IVectorIndex index, ShardQuery query)
    {
        if (query.Vector is null || query.Vector.Length != index.Dimension)
            throw new ArgumentException($"the query vector has {query.Vector?.Length ?? 0} values; this shard's items have {index.Dimension}");
        if (query.K < 1) throw new ArgumentException($"k must be at least 1, got {query.K}");
        int k = Math.Min(query.K, index.Count);
        if (k == 0) return ShardHits.Empty;
        var rows = new long[k];
        var scores = new float[k];
        var filter = query.ExcludedRows is { Length: > 0 } excluded ? ExcludedIds.Of(excluded) : null;
        int found = index.Search(query.Vector, k, rows, scores, SearchOptions.Of(filter, query.Ef));
        return found == k ? new ShardHits(rows, scores) : new ShardHits(rows[..found], scores[..found]);
    }

    /// <summary>The index, held for one search; refused once the activation has let go of it.</summary>
    private IVectorIndex Hold()
    {
        for (int holders = Volatile.Read(ref _holders); ; holders = Volatile.Read(ref _holders))
        {
            if (holders == 0 || _index is null) throw new InvalidOperationException("the shard is not loaded");
            if (Interlocked.CompareExchange(ref _holders, holders + 1, holders) == holders) return _index;
        }
    }

    private void Release()
    {
        if (Interlocked.Decrement(ref _holders) == 0) _index?.Dispose();
    }
}
