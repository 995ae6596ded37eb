using System.Collections.Concurrent;
using VectorRecall.Indexing;

namespace VectorRecall.Serving;

/// <summary>
/// A shard's index with its log applied: the shard file as written by <c>vrecall shard</c> (or a compaction), then every
/// change its <see cref="ShardUpdateLog"/> has acknowledged. Changes arrive numbered; ones already applied are skipped,
/// and a gap (changes this copy missed, say while its silo was starting) is filled from the log file, as is anything
/// <see cref="Refresh"/> finds there. Searches may run beside applies; applies are not safe beside each other (a grain's
/// turns order them).
/// </summary>
public sealed class LiveShard : IDisposable
{
    private readonly ShardSet _set;
    private readonly int _shard;
    private readonly ConcurrentDictionary<int, string> _names = new();   // ids of live rows (past the bundle's)
    private readonly HashSet<int> _deletedBase = [];
    private long _logEnd, _logEntries;   // how far the log file has been read, and the entries before that point

    private LiveShard(ShardSet set, int shard, IVectorIndex index)
    {
        _set = set;
        _shard = shard;
        Index = index;
    }

    public IVectorIndex Index { get; }

    /// <summary>The generation of the set this copy was loaded from (<see cref="ShardSet.Generation"/>).</summary>
    public long Generation => _set.Generation;

    /// <summary>How far the log file has been read and applied, in bytes (a record boundary).</summary>
    public long LogEnd => _logEnd;

    /// <summary>Log entries applied: the sequence number of the last.</summary>
    public long Applied { get; private set; }

    /// <summary>Loads shard <paramref name="shard"/> of <paramref name="set"/> (checked against the manifest) and replays its log.</summary>
    public static LiveShard Load(ShardSet set, int shard)
    {
        var live = new LiveShard(set, shard, set.LoadShard(shard));
        try
        {
            live.CatchUp();
            return live;
        }
        catch
        {
            live.Dispose();
            throw;
        }
    }

    /// <summary>The id of a live row this shard holds or held; null for the bundle's own rows.</summary>
    public string? NameOf(long row) => row >= _set.Items && _names.TryGetValue((int)row, out string? key) ? key : null;

    /// <summary>The live rows and their ids, and the bundle rows deleted: what a compaction keeps beside the index.</summary>
    public (IReadOnlyDictionary<int, string> Live, IReadOnlyCollection<int> DeletedBase) Names => (_names, _deletedBase);

    /// <summary>Applies entries numbered <paramref name="first"/>, <paramref name="first"/> + 1, …; ones applied already are skipped.</summary>
    public void Apply(IReadOnlyList<ShardLogEntry> entries, long first)
    {
        if (first > Applied + 1) CatchUp();   // this copy missed some: the log has them (and these)
        for (int i = 0; i < entries.Count; i++) ApplyNumbered(entries[i], first + i);
    }

    /// <summary>
    /// Applies what the log holds past what this copy has seen: changes a writer acknowledged while passing them to this
    /// copy failed. A look at the file's length when nothing is new.
    /// </summary>
    public void Refresh()
    {
        var file = new FileInfo(ShardLog.PathOf(_set.Directory, _shard));
        if (file.Exists && file.Length > Math.Max(_logEnd, ShardLog.HeaderBytes)) CatchUp();
    }

    /// <summary>Applies the log's entries past those applied (reading the file on from where it was last read).</summary>
    private void CatchUp()
    {
        var tail = ShardLog.Read(ShardLog.PathOf(_set.Directory, _shard), _shard, _set.Dimension, _logEnd);
        for (int i = 0; i < tail.Entries.Count; i++) ApplyNumbered(tail.Entries[i], _logEntries + i + 1);
        _logEntries += tail.Entries.Count;
        _logEnd = tail.End;
    }

    /// <summary>Applies entry number <paramref name="sequence"/> when it is the next one; any other is applied already or comes later.</summary>
    private void ApplyNumbered(ShardLogEntry e, long sequence)
    {
        if (sequence != Applied + 1) return;
        Apply(e);
        Applied++;
    }

    private void Apply(ShardLogEntry e)
    {
        if (e.Row >= _set.Items) _names.TryAdd(e.Row, e.Key);
        switch (e.Kind)
        {
            case ShardLogKind.Upsert:
                if (Index.Contains(e.Row)) Index.Remove(e.Row);
                Index.Add([e.Row], e.Vector);
                _deletedBase.Remove(e.Row);
                break;
            case ShardLogKind.Delete:
                if (Index.Contains(e.Row)) Index.Remove(e.Row);
                if (e.Row < _set.Items) _deletedBase.Add(e.Row);
                break;
        }
    }

    public void Dispose() => Index.Dispose();
}
