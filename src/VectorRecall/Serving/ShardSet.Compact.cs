using System.Text.Json.Nodes;

namespace VectorRecall.Serving;

public sealed partial class ShardSet
{
    /// <summary>
    /// Folds every shard's log (<see cref="ShardLog"/>) into a new set written to <paramref name="output"/>: each shard file
    /// holds its index with the log's changes applied, and each log keeps only the ids of live items (held, or deleted) and
    /// the bundle items deleted (so the rows and ids the cluster answered with stay valid, and no row is numbered twice). Changes acknowledged after a shard's log was
    /// read stay in this set's logs only: compact a set no node writes to, or compact again.
    /// </summary>
    public static ShardSet Compact(string directory, string output, IProgress<int>? progress = null)
    {
        var set = Open(directory);
        if (FullPath(output) == set.Directory)
            throw new ArgumentException($"a set is compacted into a new folder, not into '{set.Directory}' itself (its nodes read it); a running cluster compacts in place through its writers (POST /v1/admin/compact)");
        var (manifest, fold) = Folding(set, progress, null);
        return Write(output, set.Shards, set.Items, set.Dimension, () => fold.IndexType, set.BundlePath, manifest, fold.Finish, fold.Shard);
    }

    /// <summary>
    /// Compacts the set in <paramref name="directory"/> into the same folder, all at once: <see cref="StageCompaction"/> then
    /// <see cref="StagedCompaction.Publish"/>, so only while its writers are sealed (<see cref="ShardUpdateLog.Seal"/>).
    /// </summary>
    public static ShardSet CompactInPlace(string directory, IProgress<int>? progress = null)
    {
        using var staged = StageCompaction(directory, progress);
        return staged.Publish();
    }

    /// <summary>
    /// The first, long step of a compaction in place, which writers need not wait for: folds what each shard's log holds now
    /// into the set's next <see cref="Generation"/>, written to a staging folder beside the set. Changes logged from here
    /// on are carried over by <see cref="StagedCompaction.Publish"/>, the short step taken with the writers sealed.
    /// </summary>
    public static StagedCompaction StageCompaction(string directory, IProgress<int>? progress = null)
    {
        var set = Open(directory);
        var folded = new long[set.Shards];
        var (manifest, fold) = Folding(set, progress, folded);
        string staging = Stage(set.Directory, set.Shards, set.Items, set.Dimension, () => fold.IndexType, set.BundlePath, manifest, fold.Finish, fold.Shard);
        return new StagedCompaction(set, staging, folded);
    }

    /// <summary>How each shard of <paramref name="set"/> is folded: its index with the log applied, saved, and the log's ids kept (recording in <paramref name="folded"/> how far each log was read).</summary>
    private static (JsonObject BundleManifest, Fold Fold) Folding(ShardSet set, IProgress<int>? progress, long[]? folded) =>
        (ServingBundle.ReadManifest(set.BundlePath), new Fold(set, progress, folded));

    /// <summary>Folds one shard at a time, reading only that shard's share of the catalogue's ids.</summary>
    private sealed class Fold(ShardSet set, IProgress<int>? progress, long[]? folded)
    {
        private long _live, _deleted;

        public string IndexType { get; private set; } = "";

        public void Finish(JsonObject m) => (m["live_items"], m["deleted_items"], m["generation"]) = (_live, _deleted, set.Generation + 1);

        public (int Held, JsonObject Owned) Shard(int s, string path)
        {
            using var shard = LiveShard.Load(set, s);
            if (folded is not null) folded[s] = shard.LogEnd;
            shard.Index.Save(path);
            IndexType = shard.Index.GetType().Name;
            var (names, deletedBase) = shard.Names;
            // The bundle rows the shard owns do not change (deleted ones stay deletes in its log).
            var owned = set.OwnedIds(s).ToList();
            var keyOf = deletedBase.Count == 0 ? [] : owned.ToDictionary(o => o.Row, o => o.Key);
            // Deleted live items stay as deletes, so their rows are never numbered again (front ends may still know their ids).
            var kept = names.OrderBy(n => n.Key).Select(n => new ShardLogEntry(shard.Index.Contains(n.Key) ? ShardLogKind.Name : ShardLogKind.Delete, n.Key, n.Value))
                .Concat(deletedBase.Order().Select(row => new ShardLogEntry(ShardLogKind.Delete, row, keyOf[row]))).ToList();
            string log = ShardLog.PathOf(Path.GetDirectoryName(path)!, s);
            System.IO.Directory.CreateDirectory(Path.GetDirectoryName(log)!);
            ShardLog.WriteAll(log, s, set.Dimension, kept);
            _live += kept.Count(e => e.Kind == ShardLogKind.Name);
            _deleted += deletedBase.Count;
            var listing = WriteOwnedIds(Path.GetDirectoryName(path)!, s, owned);
            progress?.Report(s + 1);
            return (shard.Index.Count, listing);
        }
    }
}

/// <summary>
/// A shard set's next generation, folded and waiting beside the set (<see cref="ShardSet.StageCompaction"/>) for
/// <see cref="Publish"/>; disposing it unpublished removes it.
/// </summary>
public sealed class StagedCompaction : IDisposable
{
    private readonly string _staging;
    private readonly long[] _folded;
    private bool _published;

    internal StagedCompaction(ShardSet source, string staging, long[] folded)
    {
        Source = source;
        _staging = staging;
        _folded = folded;
    }

    /// <summary>The set as it was when the fold began.</summary>
    public ShardSet Source { get; }

    /// <summary>
    /// Publishes the staged generation: appends to each staged log the changes its shard logged since the fold, and
    /// renames the staged set into place. Only while the set's writers are sealed (<see cref="ShardUpdateLog.Seal"/>),
    /// which it checks by taking every shard's writer lock until the rename, so no change can reach a log after its
    /// tail was carried over. Refused when another compaction published a generation meanwhile.
    /// </summary>
    public ShardSet Publish()
    {
        ObjectDisposedException.ThrowIf(_published, this);
        string directory = Source.Directory;
        if (!ShardUpdateLog.IsSealed(directory))
            throw new InvalidOperationException($"the writers of '{directory}' are not sealed: seal them (ShardUpdateLog.Seal) before publishing a compaction");
        var locks = new List<IDisposable>(Source.Shards);
        try
        {
            for (int s = 0; s < Source.Shards; s++) locks.Add(ShardUpdateLog.Lock(Source, s));
            long now = ShardSet.Open(directory).Generation;
            if (now != Source.Generation)
                throw new InvalidOperationException($"another compaction published generation {now} of '{directory}' while this one folded generation {Source.Generation}");
            for (int s = 0; s < Source.Shards; s++)
            {
                var tail = ShardLog.Read(ShardLog.PathOf(directory, s), s, Source.Dimension, _folded[s]);
                if (tail.Entries.Count > 0) ShardLog.Append(ShardLog.PathOf(_staging, s), tail.Entries, Source.Dimension);
            }
            ServingBundle.Replace(_staging, directory, ShardSet.ManifestFile);
            _published = true;
        }
        finally
        {
            foreach (var l in locks) l.Dispose();
        }
        return ShardSet.Open(directory);
    }

    public void Dispose()
    {
        if (_published) return;
        _published = true;
        try { Directory.Delete(_staging, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }   // a later compaction's clean-up removes it
    }
}
