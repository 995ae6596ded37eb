using System.Text.Json.Nodes;
using VectorRecall.IO;
using VectorRecall.Serving;
using VectorRecall.Towers;

namespace VectorRecall.Tests.Cluster;

/// <summary>Splitting a bundle into shards, and reading a shard set back (including hostile manifests and damaged shard files).</summary>
public sealed class ShardSetTests : IDisposable
{
    private readonly TempDir _dir = new();
    private static TrainedSmallModel Model => TrainedSmallModel.Shared;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void EveryItemIsInTheShardItsIdNames()
    {
        var set = ShardSet.Split(Model.BundlePath, 6, _dir.File("shards"));
        Assert.Equal(6, set.Shards);
        Assert.Equal(Model.Data.ItemCount, set.Items);
        int total = 0;
        for (int s = 0; s < set.Shards; s++)
        {
            using var shard = set.LoadShard(s);
            total += shard.Count;
            Assert.True(Assert.IsType<VectorRecall.Indexing.HnswIndex>(shard).Options.ReuseRemovedSlots);   // shards take live changes
            for (int row = 0; row < Model.ItemIds.Length; row++)
                Assert.Equal(ShardSet.OwnerOf(Model.ItemIds[row].ToString(System.Globalization.CultureInfo.InvariantCulture), 6) == s, shard.Contains(row));
        }
        Assert.Equal(Model.Data.ItemCount, total);
        Assert.True(File.Exists(Path.Combine(set.BundlePath, ServingBundle.ManifestFile)));
        Assert.Equal(Model.ItemIds.Length, ServingBundle.LoadItemIds(set.BundlePath).Count);
    }

    [Fact]
    public void OwnersSpreadItemsEvenlyAndDependOnlyOnTheId()
    {
        var counts = new int[8];
        for (int i = 0; i < 80_000; i++) counts[ShardSet.OwnerOf($"item-{i}", 8)]++;
        Assert.All(counts, c => Assert.InRange(c, 9_000, 11_000));
        Assert.Equal(ShardSet.OwnerOf("abc", 7), ShardSet.OwnerOf("abc", 7));
        Assert.Throws<ArgumentOutOfRangeException>(() => ShardSet.OwnerOf("abc", 0));
    }

    [Fact]
    public void ShardCountsOutOfRangeAreRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ShardSet.Split(Model.BundlePath, 0, _dir.File("a")));
        Assert.Throws<ArgumentOutOfRangeException>(() => ShardSet.Split(Model.BundlePath, ShardSet.MaxShards + 1, _dir.File("b")));
        Assert.False(Directory.Exists(_dir.File("a")));
    }

    [Fact]
    public void ASecondSplitReplacesTheSetAndAForeignFolderIsLeftAlone()
    {
        string target = _dir.File("shards");
        ShardSet.Split(Model.BundlePath, 3, target);
        var again = ShardSet.Split(Model.BundlePath, 2, target);
        Assert.Equal(2, ShardSet.Open(target).Shards);
        Assert.False(File.Exists(Path.Combine(target, ShardSet.ShardFileName(2))));
        Assert.Equal(2, again.Shards);
        string foreign = _dir.File("foreign");
        Directory.CreateDirectory(foreign);
        File.WriteAllText(Path.Combine(foreign, "notes.txt"), "mine");
        Assert.Throws<IOException>(() => ShardSet.Split(Model.BundlePath, 2, foreign));
        Assert.Equal("mine", File.ReadAllText(Path.Combine(foreign, "notes.txt")));
        Assert.Equal([_dir.File("foreign"), _dir.File("shards")], Directory.GetDirectories(_dir.Path).Order());
    }

    public static TheoryData<string, string, string> HostileManifests => new()
    {
        { "format", "\"vrecall-bundle\"", "'format'" },
        { "version", "2", "'version'" },
        { "shards", "0", "'shards'" },
        { "shards", "1000000000", "'shards'" },
        { "shards", "\"three\"", "'shards'" },
        { "items", "-1", "'items'" },
        { "items", "7", "'items'" },
        { "owner", "\"modulo\"", "'owner'" },
        { "files", "{}", "'files'" },
        { "files", "[]", "'files'" },
    };

    [Theory]
    [MemberData(nameof(HostileManifests))]
    public void HostileManifestsAreRefusedNamingTheFileAndField(string field, string json, string named)
    {
        string target = _dir.File("shards");
        ShardSet.Split(Model.BundlePath, 3, target);
        string manifest = Path.Combine(target, ShardSet.ManifestFile);
        var m = JsonNode.Parse(File.ReadAllText(manifest))!.AsObject();
        m[field] = JsonNode.Parse(json);
        File.WriteAllText(manifest, m.ToJsonString());
        var e = Assert.Throws<FileFormatException>(() => ShardSet.Open(target));
        Assert.Contains(ShardSet.ManifestFile, e.Message);
        Assert.Contains(named, e.Message);
    }

    [Fact]
    public void NotJsonAMissingManifestAndAMissingShardEntryAreRefused()
    {
        string target = _dir.File("shards");
        ShardSet.Split(Model.BundlePath, 3, target);
        string manifest = Path.Combine(target, ShardSet.ManifestFile);
        var m = JsonNode.Parse(File.ReadAllText(manifest))!.AsObject();
        var files = m["files"]!.AsObject();
        files.Remove(ShardSet.ShardFileName(1));
        files["shard-9999.vrix"] = new JsonObject { ["bytes"] = 1, ["crc32c"] = "00000000", ["items"] = 0 };
        File.WriteAllText(manifest, m.ToJsonString());
        Assert.Contains(ShardSet.ShardFileName(1), Assert.Throws<FileFormatException>(() => ShardSet.Open(target)).Message);
        File.WriteAllText(manifest, "{ not json");
        Assert.Throws<FileFormatException>(() => ShardSet.Open(target));
        File.Delete(manifest);
        Assert.Contains("not a shard set", Assert.Throws<FileFormatException>(() => ShardSet.Open(target)).Message);
    }

    [Fact]
    public void EachShardListsItsOwnBundleItemsAndAnOlderSetFallsBackToTheBundlesIds()
    {
        string target = _dir.File("shards");
        var set = ShardSet.Split(Model.BundlePath, 3, target);
        var keys = Model.ItemIds.Select(id => id.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        for (int s = 0; s < 3; s++)
        {
            var expected = Enumerable.Range(0, keys.Length).Where(row => ShardSet.OwnerOf(keys[row], 3) == s).Select(row => (keys[row], row)).ToArray();
            Assert.Equal(expected, set.OwnedIds(s).ToArray());
            Assert.True(File.Exists(Path.Combine(target, $"shard-000{s}.rows.npy")) && File.Exists(Path.Combine(target, $"shard-000{s}.ids.npy")));
        }

        // Damaged, the files are refused by their checksums, naming them.
        string ids1 = Path.Combine(target, "shard-0001.ids.npy");
        var bytes = File.ReadAllBytes(ids1);
        bytes[^3] ^= 0x10;
        File.WriteAllBytes(ids1, bytes);
        Assert.Contains("shard-0001.ids.npy", Assert.Throws<FileFormatException>(() => set.OwnedIds(1).ToArray()).Message);

        // A listing naming another file is refused; a set written before the listings reads the bundle's ids.
        string manifest = Path.Combine(target, ShardSet.ManifestFile);
        var m = JsonNode.Parse(File.ReadAllText(manifest))!.AsObject();
        m["files"]![ShardSet.ShardFileName(2)]!["owned"]!["rows"]!["file"] = "../../etc/passwd";
        File.WriteAllText(manifest, m.ToJsonString());
        Assert.Contains("owned.rows.file", Assert.Throws<FileFormatException>(() => ShardSet.Open(target)).Message);
        foreach (var (_, entry) in m["files"]!.AsObject()) entry!.AsObject().Remove("owned");
        File.WriteAllText(manifest, m.ToJsonString());
        Assert.Equal(set.OwnedIds(0).ToArray(), ShardSet.Open(target).OwnedIds(0).ToArray());
        Assert.Equal(Enumerable.Range(0, keys.Length).Where(row => ShardSet.OwnerOf(keys[row], 3) == 1).Select(row => (keys[row], row)), ShardSet.Open(target).OwnedIds(1));
    }

    [Fact]
    public void ADamagedOrTruncatedShardFileIsRefusedByItsChecksumAndSize()
    {
        string target = _dir.File("shards");
        ShardSet.Split(Model.BundlePath, 3, target);
        string shard1 = Path.Combine(target, ShardSet.ShardFileName(1));
        var bytes = File.ReadAllBytes(shard1);
        bytes[bytes.Length / 2] ^= 0x40;
        File.WriteAllBytes(shard1, bytes);
        var set = ShardSet.Open(target);
        Assert.Contains("checksum", Assert.Throws<FileFormatException>(() => set.LoadShard(1)).Message);
        File.WriteAllBytes(shard1, bytes[..(bytes.Length / 3)]);
        Assert.Contains("truncated", Assert.Throws<FileFormatException>(() => set.LoadShard(1)).Message);
        using var intact = set.LoadShard(0);
        Assert.Throws<ArgumentOutOfRangeException>(() => set.LoadShard(3));
    }

    [Fact]
    public void AFlatBundleSplitsIntoFlatShards()
    {
        string bundle = Model.SaveFlatBundle(_dir.File("flat-bundle"));
        var set = ShardSet.Split(bundle, 4, _dir.File("shards"));
        using var shard = set.LoadShard(2);
        Assert.IsType<VectorRecall.Indexing.FlatIndex>(shard);
    }
}
