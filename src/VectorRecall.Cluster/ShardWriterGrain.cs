using Microsoft.Extensions.Logging;
using VectorRecall.Serving;

namespace VectorRecall.Cluster;

/// <summary>
/// The writer of one shard's log (<see cref="ShardUpdateLog"/>). Orleans keeps one activation of it in the cluster, and
/// its turns run one at a time, so the shard's changes are numbered and written in one order. A change is on disk before
/// the writer answers; it is then passed to every replica of the shard, which applies it at once (a replica that misses
/// it — down, still loading, or too slow — reads it from the log when it next activates, sees a later change, or looks
/// at the log, once a second).
/// </summary>
internal sealed class ShardWriterGrain(ShardSetLocation location, ILogger<ShardWriterGrain> log) : Grain, IShardWriterGrain
{
    /// <summary>How long a replica may take to apply a batch before the writer answers without it.</summary>
    private static readonly TimeSpan ApplyDeadline = TimeSpan.FromSeconds(2);

    private ShardUpdateLog? _log;

    private static long s_applyMisses;

    /// <summary>
    /// Batches of changes the writers in this process acknowledged before one of the shard's replicas had applied them
    /// (the replica failed or missed <see cref="ApplyDeadline"/>; it reads them from the log within a second). Served on
    /// <c>/metrics</c>: while it grows, "visible on every replica at once" is "within a second" for some writes.
    /// </summary>
    internal static long ApplyMisses => Interlocked.Read(ref s_applyMisses);

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        int shard = (int)this.GetPrimaryKeyLong();
        var set = ShardSet.Open(location.Directory);
        if (shard < 0 || shard >= set.Shards) throw new ArgumentOutOfRangeException(nameof(shard), $"shard {shard} is not in the set of {set.Shards} at '{location.Directory}'");
        return Task.CompletedTask;
    }

    /// <summary>
    /// The shard's log, opened at the first write after activation or after a seal: from the set on disk then, so that a
    /// writer sealed for a compaction writes the new generation's log. Refused while the set is sealed.
    /// </summary>
    private async Task<ShardUpdateLog> LogAsync()
    {
        if (_log is { } open) return open;
        int shard = (int)this.GetPrimaryKeyLong();
        return _log = await Task.Run(() => ShardUpdateLog.Open(ShardSet.Open(location.Directory), shard));
    }

    public Task Seal()
    {
        _log?.Dispose();
        _log = null;
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _log?.Dispose();
        _log = null;
        return Task.CompletedTask;
    }

    public async Task<ShardChangeResult[]> Write(ShardChange[] changes)
    {
        ArgumentNullException.ThrowIfNull(changes);
        var writer = await LogAsync();
        // The flush waits for the disk: off the silo's scheduler threads (the grain's turn still holds other writes back).
        var (results, written) = await Task.Run(() => writer.Write([.. changes.Select(c => new ItemChange(c.Key, c.Vector))]));
        if (written.Length > 0)
        {
            var updates = new ShardUpdates(writer.Count - written.Length + 1, [.. written.Select(ShardUpdate.Of)], writer.Generation);
            int shard = (int)this.GetPrimaryKeyLong();
            await Task.WhenAll(Enumerable.Range(0, location.Replicas).Select(r => Pass(shard, r, updates)));
        }
        return [.. results.Select(r => new ShardChangeResult(r.Row, r.Found))];
    }

    private async Task Pass(int shard, int replica, ShardUpdates updates)
    {
        try
        {
            await GrainFactory.GetGrain<IShardGrain>(shard, ShardedSearch.ReplicaName(replica)).Apply(updates).WaitAsync(ApplyDeadline);
        }
        catch (Exception e)
        {
            Interlocked.Increment(ref s_applyMisses);
            // Durable already: the replica catches up from the log. Said here because until then it answers without these changes.
            log.LogWarning("shard {Shard} replica r{Replica} did not apply changes {First}..{Last} now ({Error}); it reads them from the log later",
                shard, replica, updates.First, updates.First + updates.Entries.Length - 1, e.Message);
        }
    }
}
