using VectorRecall.Indexing;
using VectorRecall.Serving;

namespace VectorRecall.Cluster;

/// <summary>
/// A shard's index in one silo's memory. Activation opens the shard set's manifest and loads this shard's file (its
/// size and checksum checked first); deactivation frees it. A query of the wrong width or a non-positive k is refused
/// with an <see cref="ArgumentException"/>, which reaches the caller.
/// </summary>
[ReplicaPlacement]
internal sealed class ShardGrain(ShardSetLocation location, ILocalSiloDetails silo) : Grain, IShardGrain
{
    private IVectorIndex? _index;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        long shard = this.GetPrimaryKeyLong(out _);
        var set = ShardSet.Open(location.Directory);
        if (shard < 0 || shard >= set.Shards) throw new ArgumentOutOfRangeException(nameof(shard), $"shard {shard} is not in the set of {set.Shards} at '{location.Directory}'");
        _index = set.LoadShard((int)shard);
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _index?.Dispose();
        _index = null;
        return Task.CompletedTask;
    }

    public Task<ShardStatus> Status()
    {
        long shard = this.GetPrimaryKeyLong(out string? replica);
        return Task.FromResult(new ShardStatus((int)shard, replica ?? "", silo.SiloAddress.ToString(), _index?.Count ?? 0));
    }

    public Task<ShardHits> Search(ShardQuery query)
    {
        var index = _index ?? throw new InvalidOperationException("the shard is not loaded");
        ArgumentNullException.ThrowIfNull(query);
        if (query.Vector is null || query.Vector.Length != index.Dimension)
            throw new ArgumentException($"the query vector has {query.Vector?.Length ?? 0} values; this shard's items have {index.Dimension}");
        if (query.K < 1) throw new ArgumentException($"k must be at least 1, got {query.K}");
        int k = Math.Min(query.K, index.Count);
        if (k == 0) return Task.FromResult(ShardHits.Empty);
        var rows = new long[k];
        var scores = new float[k];
        var filter = query.ExcludedRows is { Length: > 0 } excluded ? ExcludedIds.Of(excluded) : null;
        int found = index.Search(query.Vector, k, rows, scores, SearchOptions.Of(filter, query.Ef));
        return Task.FromResult(found == k ? new ShardHits(rows, scores) : new ShardHits(rows[..found], scores[..found]));
    }
}
