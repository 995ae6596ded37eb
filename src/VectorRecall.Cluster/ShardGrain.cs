using Microsoft.Extensions.Logging;
using Orleans.Concurrency;
using VectorRecall.Indexing;
using VectorRecall.IO;
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
/// one batch at a time. The shard is counted out to each user and disposed by the last, so a new generation of the set
/// (a compaction in place) is loaded beside the old one and swapped in without failing a search.
/// </remarks>
[ReplicaPlacement, Reentrant]
internal sealed class ShardGrain(ShardSetLocation location, ILocalSiloDetails silo, ILogger<ShardGrain> log) : Grain, IShardGrain
{
    /// <summary>The shard served now; replaced (and disposed once no search reads it) when a new generation is loaded.</summary>
    private Shared<LiveShard>? _current;
    /// <summary>The load of a new generation under way, if any (one at a time).</summary>
    private Task<long>? _reloading;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        long shard = this.GetPrimaryKeyLong(out _);
        var set = ShardSet.Open(location.Directory);
        if (shard < 0 || shard >= set.Shards) throw new ArgumentOutOfRangeException(nameof(shard), $"shard {shard} is not in the set of {set.Shards} at '{location.Directory}'");
        _current = new(await Task.Run(() => LiveShard.Load(set, (int)shard), cancellationToken));
        // A change whose passing to this replica failed (a timeout while the silo was busy) is on disk: read it within a
        // second; and a compaction in place is noticed within a second too.
        this.RegisterGrainTimer(Refresh, new GrainTimerCreationOptions(RefreshPeriod, RefreshPeriod) { KeepAlive = false });
    }

    private static readonly TimeSpan RefreshPeriod = TimeSpan.FromSeconds(1);

    private Task Refresh(CancellationToken cancellation)
    {
        if (_reloading is { IsCompleted: false }) return Task.CompletedTask;
        long onDisk;
        // Between a compaction's rename of the old set and of the new one the folder is briefly missing: look next time.
        try { onDisk = ShardSet.Open(location.Directory).Generation; }
        catch (Exception e) when (e is IOException or FileFormatException) { return Task.CompletedTask; }
        var held = Hold();
        try
        {
            if (held.Value.Generation != onDisk) _ = Reload().ContinueWith(t => log.LogWarning("shard replica could not load the set's generation {Generation} ({Error}); it tries again", onDisk, t.Exception!.InnerException!.Message),
                TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously);
            else held.Value.Refresh();
        }
        finally { held.Release(); }
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        Interlocked.Exchange(ref _current, null)?.Release();
        return Task.CompletedTask;
    }

    public Task<ShardStatus> Status()
    {
        long shard = this.GetPrimaryKeyLong(out string? replica);
        var held = Hold();
        try { return Task.FromResult(new ShardStatus((int)shard, replica ?? "", silo.SiloAddress.ToString(), held.Value.Index.Count, held.Value.Generation)); }
        finally { held.Release(); }
    }

    public Task<ShardHits> Search(ShardQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        var held = Hold();
        // Returned as it is, not awaited here: nothing after the search needs the grain's turn, so the answer goes back
        // without a continuation scheduled on the activation.
        return Task.Run(() =>
        {
            try { return Search(held.Value, query); }
            finally { held.Release(); }
        });
    }

    public async Task Apply(ShardUpdates updates)
    {
        ArgumentNullException.ThrowIfNull(updates);
        // The writer writes the set's new generation: load it first. A load already under way may have read the log before
        // these entries were appended, so they are applied after it too (ones it read are skipped by their numbers).
        if (updates.Generation != Generation()) await Reload();
        var held = Hold();
        try
        {
            // Entries of an older generation (a late message) are in the new one's set already.
            if (updates.Generation == held.Value.Generation) held.Value.Apply([.. updates.Entries.Select(u => u.ToEntry())], updates.First);
        }
        finally { held.Release(); }
    }

    /// <summary>The generation of the shard served now.</summary>
    private long Generation()
    {
        var held = Hold();
        try { return held.Value.Generation; }
        finally { held.Release(); }
    }

    public Task<long> Reload() => _reloading is { IsCompleted: false } running ? running : _reloading = ReloadAsync();

    /// <summary>Loads the set on disk off the grain's turn (searches go on with the shard served now) and swaps it in if its generation differs.</summary>
    private async Task<long> ReloadAsync()
    {
        int shard = (int)this.GetPrimaryKeyLong(out _);
        var set = ShardSet.Open(location.Directory);
        if (set.Generation == Generation()) return set.Generation;
        var fresh = new Shared<LiveShard>(await Task.Run(() => LiveShard.Load(set, shard)));
        var old = Volatile.Read(ref _current);
        if (old is null || Interlocked.CompareExchange(ref _current, fresh, old) != old)
        {
            fresh.Release();   // deactivated meanwhile
            return set.Generation;
        }
        old.Release();
        log.LogInformation("shard {Shard} replica loaded generation {Generation} of the set", shard, set.Generation);
        return set.Generation;
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
        int found = index.Search(query.Vector, k, rows, scores, SearchOptions.Of(filter, query.Ef, null, query.Patience));
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

    /// <summary>The shard served now, held for one search, apply or look; refused once the activation has let go of it.</summary>
    private Shared<LiveShard> Hold()
    {
        while (true)
        {
            var current = Volatile.Read(ref _current) ?? throw new InvalidOperationException("the shard is not loaded");
            if (current.TryAcquire()) return current;
            // Swapped and released between the read and the acquire: the next read sees the new one.
        }
    }
}
