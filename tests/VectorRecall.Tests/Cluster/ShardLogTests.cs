using System.Buffers.Binary;
using VectorRecall.IO;
using VectorRecall.Indexing;
using VectorRecall.Serving;

namespace VectorRecall.Tests.Cluster;

/// <summary>
/// A shard's log of live item changes: the writer numbers new items' rows and keeps known ids' rows, a loaded shard holds
/// what the log says, a crash's unfinished record is cut off, damage is refused with the file and offset, and compaction
/// folds the logs into a new set that answers the same.
/// </summary>
public sealed class ShardLogTests : IDisposable
{
    private readonly TempDir _dir = new();
    private static TrainedSmallModel Model => TrainedSmallModel.Shared;

    public void Dispose() => _dir.Dispose();

    private ShardSet NewSet(string name) => ShardSet.Split(Model.SaveFlatBundle(_dir.File(name + "-bundle")), 3, _dir.File(name));

    /// <summary>An id of this shard that the bundle does not hold.</summary>
    private static string NewKey(ShardSet set, int shard, int n) =>
        Enumerable.Range(0, 10_000).Select(i => $"new-{n}-{i}").First(k => ShardSet.OwnerOf(k, set.Shards) == shard);

    private static string BaseKey(ShardSet set, int shard) =>
        Model.ItemIds.Select(id => id.ToString(System.Globalization.CultureInfo.InvariantCulture)).First(k => ShardSet.OwnerOf(k, set.Shards) == shard);

    private static float[] Vector(ShardSet set, float value) => Enumerable.Repeat(value, set.Dimension).ToArray();

    [Fact]
    public void ALoadedShardHoldsWhatItsLogSays()
    {
        var set = NewSet("a");
        string added = NewKey(set, 1, 0), replaced = BaseKey(set, 1);
        using (var log = ShardUpdateLog.Open(set, 1))
        {
            var (results, written) = log.Write([new ItemChange(added, Vector(set, 1f)), new ItemChange(replaced, Vector(set, 2f)), new ItemChange(NewKey(set, 1, 1), null)]);
            Assert.Equal(ShardSet.LiveRow(set, 1, 0), results[0].Row);
            Assert.False(results[0].Found);
            Assert.True(results[1].Found);
            Assert.False(results[2].Found);
            Assert.Equal(2, written.Length);
            Assert.Equal(2, log.Count);
        }
        using var shard = LiveShard.Load(set, 1);
        Assert.Equal(2, shard.Applied);
        int live = ShardSet.LiveRow(set, 1, 0);
        Assert.True(shard.Index.Contains(live));
        Assert.Equal(added, shard.NameOf(live));
        Assert.Null(shard.NameOf(0));
        var ids = new long[1];
        var scores = new float[1];
        shard.Index.Search(Vector(set, 1f), 1, ids, scores);
        Assert.Equal(set.Dimension * 2f, scores[0], 3);   // the replaced item's new vector (all 2s) scores highest against all 1s

        using (var log = ShardUpdateLog.Open(set, 1))
        {
            // Known ids keep their rows across a reopen; a deleted one is gone, and a second delete finds nothing.
            Assert.Equal(live, log.Write([new ItemChange(added, Vector(set, 3f))]).Results[0].Row);
            Assert.True(log.Write([new ItemChange(replaced, null)]).Results[0].Found);
            Assert.False(log.Write([new ItemChange(replaced, null)]).Results[0].Found);
            Assert.Equal(ShardSet.LiveRow(set, 1, 1), log.Write([new ItemChange(NewKey(set, 1, 2), Vector(set, 1f))]).Results[0].Row);
        }
        shard.Apply([], 1);   // nothing new in the message: the shard is told of nothing it misses
        shard.Apply([new ShardLogEntry(ShardLogKind.Upsert, ShardSet.LiveRow(set, 1, 1), NewKey(set, 1, 2), Vector(set, 1f))], 5);   // a gap: 3 and 4 come from the file
        Assert.Equal(5, shard.Applied);
        Assert.False(shard.Index.Contains(Array.IndexOf(Model.ItemIds, long.Parse(replaced, System.Globalization.CultureInfo.InvariantCulture))));
        Assert.True(shard.Index.Contains(ShardSet.LiveRow(set, 1, 1)));

        // A change this copy was never told of is found by a look at the log.
        using (var log = ShardUpdateLog.Open(set, 1)) log.Write([new ItemChange(NewKey(set, 1, 4), Vector(set, 1f))]);
        shard.Refresh();
        Assert.Equal(6, shard.Applied);
        Assert.True(shard.Index.Contains(ShardSet.LiveRow(set, 1, 2)));
        shard.Refresh();
        Assert.Equal(6, shard.Applied);
    }

    [Fact]
    public void ASecondWriterOfAShardIsRefusedUntilTheFirstLetsGo()
    {
        var set = NewSet("f");
        using (var first = ShardUpdateLog.Open(set, 1))
        {
            var e = Assert.Throws<IOException>(() => ShardUpdateLog.Open(set, 1));
            Assert.Contains("another writer", e.Message);
            using var other = ShardUpdateLog.Open(set, 2);   // other shards are other logs
            first.Write([new ItemChange(NewKey(set, 1, 0), Vector(set, 1f))]);
        }
        using var next = ShardUpdateLog.Open(set, 1);
        Assert.Equal(1, next.Count);
    }

    [Fact]
    public void ChangesForAnotherShardOrOfTheWrongWidthOrNotFiniteWriteNothing()
    {
        var set = NewSet("b");
        using var log = ShardUpdateLog.Open(set, 0);
        Assert.Throws<ArgumentException>(() => log.Write([new ItemChange(NewKey(set, 2, 0), Vector(set, 1f))]));
        Assert.Throws<ArgumentException>(() => log.Write([new ItemChange(NewKey(set, 0, 0), new float[set.Dimension + 1])]));
        var nan = Vector(set, 1f);
        nan[3] = float.NaN;
        Assert.Throws<ArgumentException>(() => log.Write([new ItemChange(NewKey(set, 0, 0), nan)]));   // it could never be read back
        Assert.Equal(0, log.Count);
        Assert.Equal(ShardLog.HeaderBytes, new FileInfo(log.FilePath).Length);
    }

    [Fact]
    public void ARecordACrashLeftUnfinishedIsCutOffAndTheRestKept()
    {
        var set = NewSet("c");
        string path;
        using (var log = ShardUpdateLog.Open(set, 2))
        {
            log.Write([new ItemChange(NewKey(set, 2, 0), Vector(set, 1f))]);
            path = log.FilePath;
        }
        long whole = new FileInfo(path).Length;
        using (var f = new FileStream(path, FileMode.Append)) f.Write([40, 0, 0, 0, 1, 2, 3, 4, 1, 0]);   // a record header and two of its 40 bytes
        Assert.Single(ShardLog.Read(path, 2, set.Dimension).Entries);
        using (var log = ShardUpdateLog.Open(set, 2))
        {
            Assert.Equal(1, log.Count);
            Assert.Equal(whole, new FileInfo(path).Length);
            log.Write([new ItemChange(NewKey(set, 2, 1), Vector(set, 1f))]);
        }
        Assert.Equal(2, ShardLog.Read(path, 2, set.Dimension).Entries.Count);
    }

    [Fact]
    public void DamagedOrHostileLogsAreRefusedWithTheFileAndOffset()
    {
        var set = NewSet("d");
        string path;
        using (var log = ShardUpdateLog.Open(set, 0))
        {
            log.Write([new ItemChange(NewKey(set, 0, 0), Vector(set, 1f))]);
            log.Write([new ItemChange(NewKey(set, 0, 1), Vector(set, 1f))]);
            path = log.FilePath;
        }
        byte[] good = File.ReadAllBytes(path);
        void Refused(Action<byte[]> damage, string says)
        {
            var bytes = (byte[])good.Clone();
            damage(bytes);
            File.WriteAllBytes(path, bytes);
            var e = Assert.Throws<FileFormatException>(() => ShardLog.Read(path, 0, set.Dimension));
            Assert.Contains(path, e.Message);
            Assert.Contains(says, e.Message);
            Assert.Throws<FileFormatException>(() => ShardUpdateLog.Open(set, 0).Dispose());
        }
        int first = ShardLog.HeaderBytes;
        Refused(b => b[first + 8 + 9] ^= 0xFF, "record at byte 16 fails its checksum");                               // a flipped byte in the first of two records
        Refused(b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(first), uint.MaxValue), "record at byte 16 claims"); // a length no record has
        Refused(b => b[0] = (byte)'X', "not a shard log");
        Refused(b => BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(12), set.Dimension + 1), "expected shard 0");
        Assert.Throws<FileFormatException>(() => ShardLog.Read(path, 1, set.Dimension));                               // another shard's log

        // Well-framed records whose contents are wrong: each one's checksum made to match.
        void Forged(byte[] payload, string says)
        {
            var bytes = new byte[ShardLog.HeaderBytes + 8 + payload.Length];
            good.AsSpan(0, ShardLog.HeaderBytes).CopyTo(bytes);
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(first), (uint)payload.Length);
            var crc = new System.IO.Hashing.Crc32(System.IO.Hashing.Crc32ParameterSet.Crc32C);
            crc.Append(payload);
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(first + 4), crc.GetCurrentHashAsUInt32());
            payload.CopyTo(bytes, first + 8);
            // Followed by a good record, so the forged one is not mistaken for a crash's last write.
            File.WriteAllBytes(path, [.. bytes, .. good.AsSpan(first, good.Length - first).ToArray()]);
            var e = Assert.Throws<FileFormatException>(() => ShardLog.Read(path, 0, set.Dimension));
            Assert.Contains(says, e.Message);
        }
        Forged([9, 0, 0, 0, 0, 1, 0, (byte)'a'], "unknown kind 9");
        Forged([2, 0xFF, 0xFF, 0xFF, 0xFF, 1, 0, (byte)'a'], "names row -1");
        Forged([2, 0, 0, 0, 0, 0, 0], "0-byte id");
        Forged([2, 0, 0, 0, 0, 1, 0, 0xC3], "not UTF-8");
        Forged([1, 0, 0, 0, 0, 1, 0, (byte)'a', 1, 2], "is 10 bytes");
        var nan = new byte[8 + 4 * set.Dimension];
        nan[0] = 1; nan[5] = 1; nan[7] = (byte)'a';
        BinaryPrimitives.WriteSingleLittleEndian(nan.AsSpan(8), float.NaN);
        Forged(nan, "not finite");
    }

    [Fact]
    public void CompactionFoldsTheLogsIntoANewSetThatAnswersTheSame()
    {
        var set = NewSet("e");
        var live = new List<(string Key, int Shard)>();
        for (int s = 0; s < set.Shards; s++)
        {
            using var log = ShardUpdateLog.Open(set, s);
            string a = NewKey(set, s, 0), b = NewKey(set, s, 1);
            log.Write([new ItemChange(a, Vector(set, 0.5f + s)), new ItemChange(b, Vector(set, -1f)), new ItemChange(BaseKey(set, s), null)]);
            log.Write([new ItemChange(b, null)]);
            live.Add((a, s));
        }
        var compacted = ShardSet.Compact(set.Directory, _dir.File("e2"));
        Assert.Throws<ArgumentException>(() => ShardSet.Compact(set.Directory, set.Directory));
        Assert.Equal(set.Items, compacted.Items);
        var query = Vector(set, 1f);
        for (int s = 0; s < set.Shards; s++)
        {
            using var before = LiveShard.Load(set, s);
            using var after = LiveShard.Load(compacted, s);
            Assert.Equal(before.Index.Count, after.Index.Count);
            var (ids1, ids2, sc1, sc2) = (new long[20], new long[20], new float[20], new float[20]);
            int n1 = before.Index.Search(query, 20, ids1, sc1), n2 = after.Index.Search(query, 20, ids2, sc2);
            Assert.Equal(ids1[..n1], ids2[..n2]);
            int row = ShardSet.LiveRow(set, s, 0);
            Assert.Equal(live[s].Key, after.NameOf(row));
            // The compacted log keeps numbering where the old one stopped, and knows the deleted bundle item.
            using var log = ShardUpdateLog.Open(compacted, s);
            Assert.Equal(ShardSet.LiveRow(set, s, 2), log.Write([new ItemChange(NewKey(set, s, 3), Vector(set, 1f))]).Results[0].Row);
            Assert.False(log.Write([new ItemChange(BaseKey(set, s), null)]).Results[0].Found);
        }
    }

    [Fact]
    public void ASealedSetIsCompactedInPlaceAndItsWritersOpenTheNextGeneration()
    {
        var set = NewSet("f");
        string a = NewKey(set, 1, 0);
        using (var log = ShardUpdateLog.Open(set, 1)) log.Write([new ItemChange(a, Vector(set, 2f)), new ItemChange(BaseKey(set, 1), null)]);
        Assert.Throws<InvalidOperationException>(() => ShardSet.CompactInPlace(set.Directory));   // not sealed

        // A writer that still holds its log when the set is sealed keeps the compaction out, and nothing changes.
        var holder = ShardUpdateLog.Open(set, 2);
        Assert.True(ShardUpdateLog.Seal(set.Directory));
        Assert.False(ShardUpdateLog.Seal(set.Directory));
        Assert.Throws<ShardSetSealedException>(() => ShardUpdateLog.Open(set, 0));
        Assert.Throws<IOException>(() => ShardSet.CompactInPlace(set.Directory));
        Assert.Equal(0, ShardSet.Open(set.Directory).Generation);
        holder.Dispose();

        var next = ShardSet.CompactInPlace(set.Directory);
        Assert.Equal(set.Directory, next.Directory);
        Assert.Equal(1, next.Generation);
        Assert.Equal((1L, 1L), (next.LiveItems, next.DeletedItems));
        Assert.False(ShardUpdateLog.IsSealed(set.Directory));   // the seal was the old generation's
        Assert.DoesNotContain(Directory.GetDirectories(Path.GetDirectoryName(set.Directory)!), d => Path.GetFileName(d).StartsWith(Path.GetFileName(set.Directory) + ".", StringComparison.Ordinal));   // no staging or retired folder left
        using (var shard = LiveShard.Load(next, 1))
        {
            Assert.Equal(1, shard.Generation);
            Assert.Equal(a, shard.NameOf(ShardSet.LiveRow(set, 1, 0)));
        }
        using var writer = ShardUpdateLog.Open(next, 1);
        Assert.Equal(1, writer.Generation);
        Assert.True(writer.Write([new ItemChange(a, null)]).Results[0].Found);
        Assert.Equal(ShardSet.LiveRow(set, 1, 1), writer.Write([new ItemChange(NewKey(set, 1, 1), Vector(set, 1f))]).Results[0].Row);
        // A seal no compaction will publish is lifted, and the writers go on.
        Assert.True(ShardUpdateLog.Seal(set.Directory));
        ShardUpdateLog.Unseal(set.Directory);
        ShardUpdateLog.Open(next, 0).Dispose();
    }

    [Fact]
    public void ChangesLoggedWhileACompactionFoldsAreCarriedIntoTheNextGeneration()
    {
        var set = NewSet("g");
        string early = NewKey(set, 0, 0), late = NewKey(set, 0, 1), gone = NewKey(set, 0, 2);
        var writer = ShardUpdateLog.Open(set, 0);
        writer.Write([new ItemChange(early, Vector(set, 1f)), new ItemChange(gone, Vector(set, 2f))]);
        using var staged = ShardSet.StageCompaction(set.Directory);
        // The writer goes on while the fold waits: a new item, a deletion of a folded one, a deletion of a bundle item.
        writer.Write([new ItemChange(late, Vector(set, 3f)), new ItemChange(gone, null), new ItemChange(BaseKey(set, 0), null)]);
        Assert.Throws<InvalidOperationException>(staged.Publish);   // not sealed
        Assert.True(ShardUpdateLog.Seal(set.Directory));
        Assert.Throws<IOException>(staged.Publish);   // the writer still holds its log
        writer.Dispose();
        var next = staged.Publish();
        Assert.Equal(1, next.Generation);
        Assert.Equal(2, next.LiveItems);   // folded: early and gone; late came after the fold

        using var shard = LiveShard.Load(next, 0);
        Assert.Equal(early, shard.NameOf(ShardSet.LiveRow(set, 0, 0)));
        Assert.Equal(late, shard.NameOf(ShardSet.LiveRow(set, 0, 2)));
        Assert.True(shard.Index.Contains(ShardSet.LiveRow(set, 0, 2)));
        Assert.False(shard.Index.Contains(ShardSet.LiveRow(set, 0, 1)));
        var reopened = ShardUpdateLog.Open(next, 0);
        var again = reopened.Write([new ItemChange(late, null), new ItemChange(BaseKey(set, 0), null), new ItemChange(NewKey(set, 0, 3), Vector(set, 1f))]).Results;
        Assert.True(again[0].Found);
        Assert.False(again[1].Found);
        Assert.Equal(ShardSet.LiveRow(set, 0, 3), again[2].Row);
        reopened.Dispose();

        // A compaction that folded the old generation cannot publish over the new one.
        using var stale = ShardSet.StageCompaction(set.Directory);
        using (var third = ShardSet.StageCompaction(set.Directory))
        {
            Assert.True(ShardUpdateLog.Seal(set.Directory));
            Assert.Equal(2, third.Publish().Generation);
        }
        Assert.True(ShardUpdateLog.Seal(set.Directory));
        Assert.Contains("another compaction published generation 2", Assert.Throws<InvalidOperationException>(stale.Publish).Message);
        ShardUpdateLog.Unseal(set.Directory);
    }
}
