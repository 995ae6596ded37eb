using System.Globalization;
using System.IO.Hashing;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using VectorRecall.Indexing;
using VectorRecall.IO;
using VectorRecall.Numerics;

namespace VectorRecall.Serving;

/// <summary>
/// A serving bundle's items split into shards, for recall spread over several machines: one folder holding
/// <c>shard-NNNN.vrix</c> per shard (an index of the kind and settings of the bundle's own, over the items the shard
/// owns) with the rows and ids of those items (<see cref="OwnedIds"/>), a copy of the bundle under <c>bundle/</c> (the
/// user encoder, the users' histories and seen items, the item ids: what every front end needs), and <c>shards.json</c> listing each shard file's size and CRC-32C. An item belongs to
/// shard <see cref="OwnerOf"/>(its id, shards), so any process can tell which shard holds an item from its id alone.
/// Shard indexes keep the bundle's item rows as their ids: a shard's hits merge with the others' and map to item ids
/// and seen-item filters exactly as a single index's do.
/// </summary>
public sealed partial class ShardSet
{
    public const string ManifestFile = "shards.json";
    public const string Format = "vrecall-shards";
    public const int Version = 1;
    /// <summary>The most shards a set may have (a manifest claiming more is refused before anything is sized by it).</summary>
    public const int MaxShards = 4096;
    /// <summary>The owner function's name in the manifest: XxHash64 of the id's UTF-8 text, modulo the shard count.</summary>
    public const string OwnerScheme = "xxhash64-utf8-mod";
    /// <summary>The folder of the set that holds the copy of the bundle.</summary>
    public const string BundleFolder = "bundle";

    private readonly long[] _bytes;
    private readonly string[] _crc;

    private ShardSet(string directory, int shards, int items, int dimension, long generation, long live, long deleted, long[] bytes, string[] crc, OwnedIdFiles?[] owned)
    {
        _owned = owned;
        Directory = directory;
        Generation = generation;
        LiveItems = live;
        DeletedItems = deleted;
        Shards = shards;
        Items = items;
        Dimension = dimension;
        _bytes = bytes;
        _crc = crc;
    }

    /// <summary>The set's folder.</summary>
    public string Directory { get; }

    /// <summary>How many shards the items are split into.</summary>
    public int Shards { get; }

    /// <summary>Items over all shards (the bundle's item count).</summary>
    public int Items { get; }

    /// <summary>Width of the item vectors (and of the user vectors that search them).</summary>
    public int Dimension { get; }

    /// <summary>
    /// How many compactions the set's contents have been through (0 for a split): a compaction in place
    /// (<see cref="CompactInPlace"/>) publishes the next generation under the same folder, which tells the replicas serving
    /// the old one to load it, since its shard files and logs are new.
    /// </summary>
    public long Generation { get; }

    /// <summary>Items added while serving that a compaction folded into the shard files (0 for a split).</summary>
    public long LiveItems { get; }

    /// <summary>The bundle's items deleted while serving that a compaction took out of the shard files (0 for a split).</summary>
    public long DeletedItems { get; }

    /// <summary>The copy of the source bundle (user encoder, users, item ids).</summary>
    public string BundlePath => Path.Combine(Directory, BundleFolder);

    /// <summary>
    /// The row of shard <paramref name="shard"/>'s <paramref name="number"/>th live item (one added while serving): past the
    /// bundle's rows, every shard's numbers interleaved, so shards number their items without asking each other.
    /// </summary>
    public static int LiveRow(ShardSet set, int shard, int number)
    {
        long row = set.Items + shard + (long)set.Shards * number;
        if (number < 0 || row > int.MaxValue) throw new InvalidOperationException($"shard {shard} has numbered {number} live items, all the rows it has; compact the set (vrecall shard compact)");
        return (int)row;
    }

    /// <summary>Which of its shard's live items a live row is (the inverse of <see cref="LiveRow"/>).</summary>
    internal static int LiveNumber(int row, ShardSet set) => (row - set.Items) / set.Shards;

    /// <summary>The file of shard <paramref name="shard"/> inside a set's folder.</summary>
    public static string ShardFileName(int shard) => $"{ShardName(shard)}.vrix";

    /// <summary>What every file of shard <paramref name="shard"/> in the set's folder is named after (<c>shard-NNNN</c>).</summary>
    internal static string ShardName(int shard) => $"shard-{shard.ToString("D4", CultureInfo.InvariantCulture)}";

    /// <summary>The shard that owns the item whose id is <paramref name="itemKey"/> (its text: a number in decimal, or the string id).</summary>
    public static int OwnerOf(string itemKey, int shards)
    {
        ArgumentNullException.ThrowIfNull(itemKey);
        if (shards < 1 || shards > MaxShards) throw new ArgumentOutOfRangeException(nameof(shards), $"a set has 1 to {MaxShards} shards, got {shards}");
        return (int)(XxHash64.HashToUInt64(Encoding.UTF8.GetBytes(itemKey)) % (ulong)shards);
    }

    /// <summary>
    /// Splits the two-tower or sequence bundle in <paramref name="bundle"/> into <paramref name="shards"/> shards written
    /// to <paramref name="output"/> (replacing a shard set there; written beside it and renamed into place). Each shard's
    /// index has the bundle index's kind and settings; <paramref name="progress"/> hears each finished shard's number.
    /// </summary>
    public static ShardSet Split(string bundle, int shards, string output, IProgress<int>? progress = null)
    {
        if (shards < 1 || shards > MaxShards) throw new ArgumentOutOfRangeException(nameof(shards), $"shards must be 1 to {MaxShards}, got {shards}");
        var manifest = ServingBundle.ReadManifest(bundle);
        string manifestPath = Path.Combine(bundle, ServingBundle.ManifestFile);
        var kind = ServingBundle.KindOf(manifest, manifestPath);
        if (kind is not (BundleKind.TwoTower or BundleKind.Sequence))
            throw new FileFormatException(manifestPath, $"is a {ServingBundle.KindName(kind)} bundle; only bundles searched through an index (two_tower, sequence) are split into shards");
        using var source = IndexFactory.Load(Path.Combine(bundle, ServingBundle.IndexFile));
        var itemIds = ServingBundle.LoadItemIds(bundle, manifest);
        var vectors = ServingBundle.LoadItemVectors(bundle, itemIds.Count, source.Dimension);
        var owned = new List<int>[shards];
        for (int s = 0; s < shards; s++) owned[s] = [];
        for (int row = 0; row < itemIds.Count; row++) owned[OwnerOf(itemIds[row], shards)].Add(row);

        return Write(output, shards, itemIds.Count, source.Dimension, () => source.GetType().Name, bundle, manifest, null, (s, path) =>
        {
            using var index = EmptyLike(source);
            var rows = owned[s];
            var ids = new long[rows.Count];
            var gathered = new float[rows.Count * source.Dimension];
            for (int i = 0; i < rows.Count; i++)
            {
                ids[i] = rows[i];
                vectors.Row(rows[i]).CopyTo(gathered.AsSpan(i * source.Dimension, source.Dimension));
            }
            index.Add(ids, gathered);
            index.Save(path);
            var listing = WriteOwnedIds(Path.GetDirectoryName(path)!, s, [.. rows.Select(row => (itemIds[row], row))]);
            progress?.Report(s + 1);
            return (rows.Count, listing);
        });
    }

    /// <summary>
    /// Writes a set beside <paramref name="output"/> and renames it into place: each shard's file by <paramref name="writeShard"/>
    /// (given the shard and its path; returns the items it holds), the bundle copied, then the manifest (its index type
    /// asked for once the shards are written, and <paramref name="finish"/> adding its own fields).
    /// </summary>
    private static ShardSet Write(string output, int shards, int items, int dimension, Func<string> indexType, string bundle, JsonObject bundleManifest,
        Action<JsonObject>? finish, Func<int, string, (int Held, JsonObject Owned)> writeShard)
    {
        string full = FullPath(output);
        string staging = Stage(full, shards, items, dimension, indexType, bundle, bundleManifest, finish, writeShard);
        try { ServingBundle.Replace(staging, full, ManifestFile); }
        catch
        {
            try { System.IO.Directory.Delete(staging, recursive: true); } catch (IOException) { }
            throw;
        }
        return Open(full);
    }

    private static string FullPath(string directory) => Path.GetFullPath(directory.TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar));

    /// <summary>Writes a whole set (as <see cref="Write"/> describes) into a staging folder beside <paramref name="full"/>, and returns the staging folder.</summary>
    private static string Stage(string full, int shards, int items, int dimension, Func<string> indexType, string bundle, JsonObject bundleManifest,
        Action<JsonObject>? finish, Func<int, string, (int Held, JsonObject Owned)> writeShard)
    {
        AtomicFile.RemoveStale(full);
        string staging = AtomicFile.TemporaryName(full);
        System.IO.Directory.CreateDirectory(staging);
        try
        {
            var files = new JsonObject();
            for (int s = 0; s < shards; s++)
            {
                string path = Path.Combine(staging, ShardFileName(s));
                var (held, owned) = writeShard(s, path);
                var (bytes, crc) = ServingBundle.Checksum(path);
                files[ShardFileName(s)] = new JsonObject { ["bytes"] = bytes, ["crc32c"] = crc.ToString("x8", CultureInfo.InvariantCulture), ["items"] = held, ["owned"] = owned };
            }
            CopyBundle(bundle, bundleManifest, Path.Combine(staging, BundleFolder));
            var set = new JsonObject
            {
                ["format"] = Format,
                ["version"] = Version,
                ["created_utc"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture),
                ["shards"] = shards,
                ["items"] = items,
                ["dimension"] = dimension,
                ["owner"] = OwnerScheme,
                ["index_type"] = indexType(),
                ["files"] = files,
            };
            finish?.Invoke(set);
            ServingBundle.WriteManifest(Path.Combine(staging, ManifestFile), set);
            return staging;
        }
        catch
        {
            try { System.IO.Directory.Delete(staging, recursive: true); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>
    /// An empty index of <paramref name="source"/>'s kind, dimension, metric and settings; a graph reuses removed items'
    /// slots, since a shard takes live changes (an upsert replaces a vector: without reuse the graph would grow by one).
    /// </summary>
    private static IVectorIndex EmptyLike(IVectorIndex source) => source switch
    {
        HnswIndex h => new HnswIndex(h.Dimension, h.Metric, h.Options with { ReuseRemovedSlots = true }),
        FlatIndex f => new FlatIndex(f.Dimension, f.Metric),
        _ => throw new NotSupportedException($"a {source.GetType().Name} cannot be split into shards"),
    };

    /// <summary>The bundle's manifest and the files it lists (already checked by <see cref="ServingBundle.ReadManifest"/>).</summary>
    private static void CopyBundle(string bundle, JsonObject manifest, string target)
    {
        System.IO.Directory.CreateDirectory(target);
        foreach (var (name, _) in JsonFields.Object(manifest, "files", Path.Combine(bundle, ServingBundle.ManifestFile)))
            File.Copy(Path.Combine(bundle, name), Path.Combine(target, name));
        File.Copy(Path.Combine(bundle, ServingBundle.ManifestFile), Path.Combine(target, ServingBundle.ManifestFile));
    }

    /// <summary>
    /// Reads and checks a set's manifest (format, version, shard and item counts, one file entry per shard); the shard
    /// files themselves are checked by <see cref="LoadShard"/>, so a process loads and verifies only the shards it serves.
    /// </summary>
    public static ShardSet Open(string directory)
    {
        string path = Path.Combine(directory, ManifestFile);
        if (!System.IO.Directory.Exists(directory)) throw new DirectoryNotFoundException($"shard set folder '{Path.GetFullPath(directory)}' does not exist");
        if (!File.Exists(path)) throw new FileFormatException(path, "missing: this folder is not a shard set (vrecall shard writes one)");
        var m = JsonFields.ParseObject(ServingBundle.ReadManifestBytes(path), path);
        string format = JsonFields.String(m, "format", path);
        if (format != Format) throw new FileFormatException(path, $"field 'format' is '{Excerpt.Of(format)}', expected '{Format}'");
        long version = JsonFields.Int64(m, "version", path);
        if (version != Version) throw new FileFormatException(path, $"field 'version' is {version}; this build reads shard set version {Version}");
        int shards = (int)JsonFields.Int64(m, "shards", path, 1, MaxShards);
        int items = (int)JsonFields.Int64(m, "items", path, 0, int.MaxValue);
        int dimension = (int)JsonFields.Int64(m, "dimension", path, 1, IndexFile.MaxDimension);
        string owner = JsonFields.String(m, "owner", path);
        if (owner != OwnerScheme) throw new FileFormatException(path, $"field 'owner' is '{Excerpt.Of(owner)}'; this build places items by '{OwnerScheme}'");
        var files = JsonFields.Object(m, "files", path);
        if (files.Count != shards) throw new FileFormatException(path, $"field 'files' lists {files.Count} files for {shards} shards");
        var bytes = new long[shards];
        var crc = new string[shards];
        var owned = new OwnedIdFiles?[shards];
        long total = 0;
        for (int s = 0; s < shards; s++)
        {
            string name = ShardFileName(s);
            var entry = files[name] as JsonObject ?? throw new FileFormatException(path, $"field 'files' has no object for '{name}'");
            bytes[s] = JsonFields.Int64(entry, "bytes", path, 0, prefix: $"files.{name}");
            crc[s] = JsonFields.String(entry, "crc32c", path, $"files.{name}");
            total += JsonFields.Int64(entry, "items", path, 0, int.MaxValue, prefix: $"files.{name}");
            owned[s] = ReadOwnedListing(entry, path, s);
        }
        // A compacted set's shards also hold live items, and no longer hold the bundle items deleted.
        long live = m.ContainsKey("live_items") ? JsonFields.Int64(m, "live_items", path, 0, int.MaxValue) : 0;
        long deleted = m.ContainsKey("deleted_items") ? JsonFields.Int64(m, "deleted_items", path, 0, items) : 0;
        long generation = m.ContainsKey("generation") ? JsonFields.Int64(m, "generation", path, 0) : 0;
        if (total != items - deleted + live)
            throw new FileFormatException(path, $"its shards hold {total} items together; fields 'items', 'deleted_items' and 'live_items' say {items - deleted + live}");
        return new ShardSet(Path.GetFullPath(directory), shards, items, dimension, generation, live, deleted, bytes, crc, owned);
    }

    /// <summary>Loads shard <paramref name="shard"/>'s index after checking its file's size and checksum against the manifest.</summary>
    public IVectorIndex LoadShard(int shard)
    {
        if ((uint)shard >= (uint)Shards) throw new ArgumentOutOfRangeException(nameof(shard), $"shard {shard} is not in this set of {Shards}");
        string path = Path.Combine(Directory, ShardFileName(shard));
        ServingBundle.VerifyListedFile(path, _bytes[shard], _crc[shard]);
        return IndexFactory.Load(path);
    }
}
