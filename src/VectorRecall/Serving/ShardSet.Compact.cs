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
        if (Path.GetFullPath(output.TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar)) == set.Directory)
            throw new ArgumentException($"a set is compacted into a new folder, not into '{set.Directory}' itself (its nodes read it); a running cluster compacts in place through its writers (POST /v1/admin/compact)");
        return CompactTo(set, output, progress);
    }

    /// <summary>
    /// Compacts the set in <paramref name="directory"/> into the same folder: the next <see cref="Generation"/> is written
    /// beside it and renamed into place. Only while its writers are sealed (<see cref="ShardUpdateLog.Seal"/>), which it
    /// checks by taking every shard's writer lock for the whole compaction, so no change can be written to a log it has
    /// already read; replicas serving the old generation go on answering (the contents are the same) until they load the new one.
    /// </summary>
    public static ShardSet CompactInPlace(string directory, IProgress<int>? progress = null)
    {
        var set = Open(directory);
        if (!ShardUpdateLog.IsSealed(set.Directory))
            throw new InvalidOperationException($"the writers of '{set.Directory}' are not sealed: seal them (ShardUpdateLog.Seal) before compacting in place");
        var locks = new List<IDisposable>(set.Shards);
        try
        {
            for (int s = 0; s < set.Shards; s++) locks.Add(ShardUpdateLog.Lock(set, s));
            return CompactTo(set, set.Directory, progress);
        }
        finally
        {
            foreach (var l in locks) l.Dispose();
        }
    }

    private static ShardSet CompactTo(ShardSet set, string output, IProgress<int>? progress)
    {
        var manifest = ServingBundle.ReadManifest(set.BundlePath);
        var itemIds = ServingBundle.LoadItemIds(set.BundlePath, manifest);
        long live = 0, deleted = 0;
        string indexType = "";
        return Write(output, set.Shards, set.Items, set.Dimension, () => indexType, set.BundlePath, manifest, m => (m["live_items"], m["deleted_items"], m["generation"]) = (live, deleted, set.Generation + 1), (s, path) =>
        {
            using var shard = LiveShard.Load(set, s);
            shard.Index.Save(path);
            indexType = shard.Index.GetType().Name;
            var (names, deletedBase) = shard.Names;
            // Deleted live items stay as deletes, so their rows are never numbered again (front ends may still know their ids).
            var kept = names.OrderBy(n => n.Key).Select(n => new ShardLogEntry(shard.Index.Contains(n.Key) ? ShardLogKind.Name : ShardLogKind.Delete, n.Key, n.Value))
                .Concat(deletedBase.Order().Select(row => new ShardLogEntry(ShardLogKind.Delete, row, itemIds[row]))).ToList();
            string log = ShardLog.PathOf(Path.GetDirectoryName(path)!, s);
            System.IO.Directory.CreateDirectory(Path.GetDirectoryName(log)!);
            ShardLog.WriteAll(log, s, set.Dimension, kept);
            live += kept.Count(e => e.Kind == ShardLogKind.Name);
            deleted += deletedBase.Count;
            progress?.Report(s + 1);
            return shard.Index.Count;
        });
    }
}
