using VectorRecall.IO;

namespace VectorRecall.Serving;

/// <summary>A change asked of the cluster: the item's id and its new vector, or no vector to delete it.</summary>
public sealed record ItemChange(string Key, float[]? Vector);

/// <summary>What became of a change: the owning shard, the item's row, and whether it was found (a delete of an unknown id is not).</summary>
public sealed record ItemChangeResult(string Key, int Shard, int Row, bool Found);

/// <summary>A shard set's writers are sealed while it is compacted in place: writes resume once the compaction publishes (or is lifted).</summary>
public sealed class ShardSetSealedException(string directory)
    : IOException($"the shard set '{directory}' is being compacted: writes are paused until it is published (a compaction that stopped is finished by compacting again with resume)");

/// <summary>
/// The writing end of one shard's log (<see cref="ShardLog"/>): turns item changes into log entries — an id the shard
/// already holds keeps its row, a new id gets the shard's next live row (<see cref="ShardSet.LiveRow"/>) — appends them
/// and flushes them to disk before returning, so a change this returns is durable. Opening it replays the log to learn
/// which ids the shard holds and cuts off a record a crash left unfinished. One writer per shard (the cluster keeps it
/// in a single grain, and a lock file beside the log refuses a second); not safe for concurrent calls.
/// </summary>
public sealed class ShardUpdateLog : IDisposable
{
    private readonly ShardSet _set;
    private readonly int _shard;
    private readonly string _path;
    private readonly FileStream _file;
    private readonly Dictionary<string, int> _rows = new(StringComparer.Ordinal);   // every id the shard has held
    private readonly HashSet<int> _absent = [];   // rows deleted (and not upserted since)
    private int _nextLive;

    private readonly FileStream _lock;

    private ShardUpdateLog(ShardSet set, int shard, string path, FileStream file, FileStream lockFile)
    {
        _set = set;
        _shard = shard;
        _path = path;
        _file = file;
        _lock = lockFile;
    }

    /// <summary>The generation of the set whose log this is (<see cref="ShardSet.Generation"/>).</summary>
    public long Generation => _set.Generation;

    /// <summary>Entries in the log: the sequence number of the last one written (entries are numbered from 1).</summary>
    public long Count { get; private set; }

    /// <summary>
    /// Opens (creating when missing) shard <paramref name="shard"/>'s log, knowing the ids the bundle gave the shard (<see cref="ShardSet.OwnedIds"/>).
    /// Refused with <see cref="ShardSetSealedException"/> while the set's writers are sealed for a compaction.
    /// </summary>
    public static ShardUpdateLog Open(ShardSet set, int shard)
    {
        if ((uint)shard >= (uint)set.Shards) throw new ArgumentOutOfRangeException(nameof(shard), $"shard {shard} is not in this set of {set.Shards}");
        string path = ShardLog.PathOf(set.Directory, shard);
        // Asked before the lock too: while a compaction holds every lock, a writer is told why, not that the log is taken.
        if (IsSealed(set.Directory)) throw new ShardSetSealedException(set.Directory);
        var lockFile = Lock(set, shard);
        if (IsSealed(set.Directory))
        {
            lockFile.Dispose();
            throw new ShardSetSealedException(set.Directory);
        }
        FileStream file;
        try { file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete); }
        catch
        {
            lockFile.Dispose();
            throw;
        }
        var log = new ShardUpdateLog(set, shard, path, file, lockFile);
        try
        {
            foreach (var (key, row) in set.OwnedIds(shard)) log._rows.Add(key, row);
            var tail = ShardLog.Read(file, path, shard, set.Dimension, 0);
            foreach (var e in tail.Entries) log.Note(e);
            log.Count = tail.Entries.Count;
            if (tail.End == 0)
            {
                file.SetLength(0);
                file.Write(ShardLog.Header(shard, set.Dimension));
                file.Flush(flushToDisk: true);
            }
            else if (file.Length > tail.End)
            {
                file.SetLength(tail.End);   // the unfinished record of a crash: never acknowledged
                file.Flush(flushToDisk: true);
            }
            file.Position = file.Length;
            return log;
        }
        catch
        {
            log.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The writer's exclusive hold on the shard's log: a lock file held open with no sharing (an advisory lock the
    /// operating system drops when the process dies), so a second writer of the shard — another activation, another
    /// process, a compaction — is refused instead of interleaving its records.
    /// </summary>
    internal static FileStream Lock(ShardSet set, int shard)
    {
        string path = ShardLog.PathOf(set.Directory, shard) + ".lock";
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        try { return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
        catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException)
        {
            throw new IOException($"shard {shard}'s log is being written by another writer ({path} is locked): one writer per shard", e);
        }
    }

    /// <summary>The file whose presence seals a set's writers: it lives in the set's folder, so publishing the next generation over the folder unseals them.</summary>
    private static string SealPath(string setDirectory) => Path.Combine(setDirectory, ShardLog.Folder, "sealed");

    /// <summary>Whether the set's writers are sealed (a compaction in place is running, or one stopped before it published).</summary>
    public static bool IsSealed(string setDirectory) => File.Exists(SealPath(setDirectory));

    /// <summary>
    /// Seals the set's writers: from now on no log of the set opens for writing (a writer holding one must close it, as the
    /// cluster's writers do when told). False when the set was sealed already, by a compaction still running or one that
    /// stopped before it published: which of the two is for the caller to know.
    /// </summary>
    public static bool Seal(string setDirectory)
    {
        string path = SealPath(setDirectory);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        try
        {
            using var marker = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
            marker.Write(System.Text.Encoding.UTF8.GetBytes($"sealed {DateTime.UtcNow:O} by process {Environment.ProcessId} on {Environment.MachineName}\n"));
            marker.Flush(flushToDisk: true);
            return true;
        }
        catch (IOException) when (File.Exists(path)) { return false; }
    }

    /// <summary>Lifts a seal that no compaction will publish (one that failed): the writers open the logs they had.</summary>
    public static void Unseal(string setDirectory) => File.Delete(SealPath(setDirectory));

    /// <summary>Records what an entry (replayed or new) says about the shard's ids.</summary>
    private void Note(ShardLogEntry e)
    {
        _rows[e.Key] = e.Row;
        if (e.Kind == ShardLogKind.Delete) _absent.Add(e.Row);
        else _absent.Remove(e.Row);
        if (e.Row >= _set.Items) _nextLive = Math.Max(_nextLive, ShardSet.LiveNumber(e.Row, _set) + 1);
    }

    /// <summary>
    /// Writes <paramref name="changes"/> (each owned by this shard) and flushes them. Returns each change's result and the
    /// entries written (a delete of an id the shard does not hold writes none), the first numbered <see cref="Count"/> before the call + 1.
    /// </summary>
    public (ItemChangeResult[] Results, ShardLogEntry[] Written) Write(IReadOnlyList<ItemChange> changes)
    {
        var results = new ItemChangeResult[changes.Count];
        var written = new List<ShardLogEntry>(changes.Count);
        int nextLive = _nextLive;
        var pending = new Dictionary<string, int>(StringComparer.Ordinal);   // new ids of this call, until it is on disk
        var absent = new Dictionary<int, bool>();
        for (int i = 0; i < changes.Count; i++)
        {
            var (key, vector) = changes[i];
            if (ShardSet.OwnerOf(key, _set.Shards) != _shard) throw new ArgumentException($"item '{Excerpt.Of(key)}' belongs to shard {ShardSet.OwnerOf(key, _set.Shards)}, not {_shard}");
            bool known = pending.TryGetValue(key, out int row) || _rows.TryGetValue(key, out row);
            bool held = known && !(absent.TryGetValue(row, out bool gone) ? gone : _absent.Contains(row));
            if (vector is null)
            {
                results[i] = new ItemChangeResult(key, _shard, held ? row : -1, held);
                if (!held) continue;
                written.Add(new ShardLogEntry(ShardLogKind.Delete, row, key));
                absent[row] = true;
            }
            else
            {
                if (!known) pending[key] = row = ShardSet.LiveRow(_set, _shard, nextLive++);
                written.Add(new ShardLogEntry(ShardLogKind.Upsert, row, key, vector));
                absent[row] = false;
                results[i] = new ItemChangeResult(key, _shard, row, held);
            }
        }
        if (written.Count > 0)
        {
            long end = _file.Length;
            try
            {
                _file.Write(ShardLog.Encode(written, _set.Dimension));
                _file.Flush(flushToDisk: true);
            }
            catch
            {
                // Not acknowledged: leave the log as it was, so the next write does not follow a half record.
                try { _file.SetLength(end); _file.Position = end; } catch (IOException) { }
                throw;
            }
            foreach (var e in written) Note(e);
            Count += written.Count;
        }
        return (results, [.. written]);
    }

    /// <summary>The log's file.</summary>
    public string FilePath => _path;

    public void Dispose()
    {
        _file.Dispose();
        _lock.Dispose();
    }
}
