using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using VectorRecall.Data;
using VectorRecall.Indexing;
using VectorRecall.IO;
using VectorRecall.Numerics;
using VectorRecall.SemanticIds;
using VectorRecall.Tdm;
using VectorRecall.Towers;
using VectorRecall.Training;
using VectorRecall.TwoTower;

namespace VectorRecall.Serving;

/// <summary>What a bundle serves: which user encoder and which retriever its files describe.</summary>
public enum BundleKind
{
    /// <summary>A user tower and an index (HNSW or flat) over the item tower's vectors.</summary>
    TwoTower,
    /// <summary>A tree-based deep model: its user tower and beam search down its item tree.</summary>
    Tdm,
    /// <summary>A two-tower's user tower and item vectors with an RQ-VAE's semantic ids, searched as a trie.</summary>
    SemanticIds,
    /// <summary>A causal sequence encoder over the user's recent items and an index over its (tied) item table.</summary>
    Sequence,
}

/// <summary>
/// A serving bundle: one folder with everything online recall needs and nothing it does not, for any
/// paradigm (<see cref="BundleKind"/>). Every kind holds the user encoder's weights and configuration,
/// the map from item rows to item ids, each user's profile features, recent behaviour and
/// already-seen items; then what its retriever needs — an index and the item vectors (two-tower),
/// the model with its tree (TDM), or the RQ-VAE, the items' codes and vectors (semantic ids) — and a
/// manifest naming the kind and listing every file with its size and CRC-32C. The folder is written
/// beside the target and renamed into place, so a reader never sees half a bundle.
/// </summary>
public static partial class ServingBundle
{
    public const string ManifestFile = "manifest.json";
    public const string Format = "vrecall-bundle";
    public const int Version = 1;
    internal const string UserTowerFile = "user_tower.safetensors";
    /// <summary>A two-tower bundle's item tower without its id table (<see cref="ItemFeatureEncoder"/>), when the model reads more of an item than its id.</summary>
    internal const string ItemTowerFile = "item_tower.safetensors";
    internal const string SequenceEncoderFile = "sequence_encoder.safetensors";
    internal const string IndexFile = "items.vrix";
    internal const string TdmModelFile = "tdm_model.safetensors";
    internal const string RqVaeFile = "rqvae.safetensors";
    internal const string SemanticCodesFile = "semantic_codes.npy";
    internal const string ItemIdsFile = "item_ids.npy";
    internal const string ItemVectorsFile = "item_vectors.npy";
    internal const string UserFeaturesFile = "user_features.npy";
    internal const string HistoryOffsetsFile = "user_history_offsets.npy";
    internal const string HistoryItemsFile = "user_history_items.npy";
    internal const string SeenOffsetsFile = "user_seen_offsets.npy";
    internal const string SeenItemsFile = "user_seen_items.npy";

    private static readonly string[] CommonFiles = [UserFeaturesFile, HistoryOffsetsFile, HistoryItemsFile, SeenOffsetsFile, SeenItemsFile];

    /// <summary>The files a bundle of <paramref name="kind"/> must list besides the common ones.</summary>
    private static string[] KindFiles(BundleKind kind) => kind switch
    {
        BundleKind.TwoTower => [UserTowerFile, IndexFile, ItemVectorsFile],
        BundleKind.Tdm => [TdmModelFile],
        BundleKind.Sequence => [SequenceEncoderFile, IndexFile, ItemVectorsFile],
        _ => [UserTowerFile, RqVaeFile, SemanticCodesFile, ItemVectorsFile],
    };

    /// <summary>The kind of the bundle in <paramref name="directory"/>, from its manifest alone (the files are checked when it is opened).</summary>
    public static BundleKind ReadKind(string directory)
    {
        string path = Path.Combine(directory, ManifestFile);
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"bundle folder '{Path.GetFullPath(directory)}' does not exist");
        if (!File.Exists(path)) throw new FileFormatException(path, "missing: this folder is not a serving bundle");
        return KindOf(ParseManifest(ReadManifestBytes(path), path), path);
    }

    /// <summary>The manifest's name of a kind.</summary>
    public static string KindName(BundleKind kind) => kind switch
    {
        BundleKind.TwoTower => "two_tower",
        BundleKind.Tdm => "tdm",
        BundleKind.Sequence => "sequence",
        _ => "semantic_ids",
    };

    /// <summary>The kind a manifest names (a bundle without "kind" predates the other kinds: two-tower).</summary>
    internal static BundleKind KindOf(JsonObject manifest, string path) => JsonFields.OptionalString(manifest, "kind", path) switch
    {
        null or "two_tower" => BundleKind.TwoTower,
        "tdm" => BundleKind.Tdm,
        "semantic_ids" => BundleKind.SemanticIds,
        "sequence" => BundleKind.Sequence,
        var other => throw new FileFormatException(path, $"field 'kind' is '{Excerpt.Of(other)}', expected two_tower, tdm, semantic_ids or sequence"),
    };

    /// <summary>
    /// Writes a two-tower bundle to <paramref name="directory"/>, replacing any bundle already there.
    /// <paramref name="itemVectors"/> row i is index id i's vector (kept for exact evaluation and export);
    /// <paramref name="itemIds"/>[i] is the external id of index id i; <paramref name="history"/> is each
    /// user's behaviour (the latest <c>HistoryLength</c> items are kept); <paramref name="seen"/> is what
    /// recall leaves out when asked to exclude seen items.
    /// </summary>
    public static void Save(string directory, TwoTowerModel model, IVectorIndex index, Tensor itemVectors, IdMap itemIds, Tensor userFeatures, UserItemLists history, UserItemLists seen, IdMap? userIds = null)
    {
        var c = model.Config;
        if (index.Dimension != c.EmbeddingDim) throw new ArgumentException($"index dimension {index.Dimension} differs from the model's {c.EmbeddingDim}");
        if (itemVectors.Rows != index.Count || itemVectors.Cols != c.EmbeddingDim)
            throw new ArgumentException($"item vectors {itemVectors} must match the index's {index.Count} items of dimension {c.EmbeddingDim}");
        var manifest = IndexManifest(index);
        Write(directory, BundleKind.TwoTower, UsersOf(c), index.Count, itemIds, userIds, userFeatures, history, seen, manifest, staging =>
        {
            WriteUserTower(staging, model.User, c);
            if (ItemFeatureEncoder.HasDescription(c))
            {
                var items = ItemFeatureEncoder.FromTrained(model.Item, c);
                StateDictFile.Save(Path.Combine(staging, ItemTowerFile), items.Tower, new Dictionary<string, string> { ["format"] = "vrecall-item-tower", ["model_config"] = items.Config.ToJson() });
            }
            WriteIndex(staging, index, itemVectors);
        });
    }

    /// <summary>
    /// Writes a TDM bundle: the model (with its user encoder) and its tree, searched <paramref name="beam"/> nodes wide; the
    /// other arguments as for <see cref="Save"/> (a sequence encoder takes no profile features: give [users × 0]).
    /// </summary>
    public static void SaveTdm(string directory, TdmModel model, ItemTree tree, int beam, IdMap itemIds, Tensor userFeatures, UserItemLists history, UserItemLists seen, IdMap? userIds = null)
    {
        Settings.Check(beam >= 1, "Beam", $"must be at least 1, got {beam}");
        var manifest = new JsonObject { ["beam"] = beam, ["tdm_scorer"] = model.Config.Scorer.ToString() };
        var users = model.Config.User is { } tower ? UsersOf(tower) : new BundleUsers(history.UserCount, 0, model.Config.Sequence!.MaxLength, model.Config.Sequence.ToJson());
        if (model.Sequence is not null) manifest["user_encoder"] = KindName(BundleKind.Sequence);
        Write(directory, BundleKind.Tdm, users, tree.ItemCount, itemIds, userIds, userFeatures, history, seen, manifest,
            staging => TdmCheckpoint.Save(Path.Combine(staging, TdmModelFile), model, tree, null, new CheckpointInfo(0, 0, double.NaN)));
    }

    /// <summary>
    /// Writes a semantic-id bundle from a two-tower bundle (<paramref name="twoTowerBundle"/>: its user tower,
    /// item vectors, item ids and users) and an RQ-VAE trained on its item vectors, with the items'
    /// collision-free <paramref name="codes"/>, searched <paramref name="beam"/> nodes wide.
    /// </summary>
    public static void SaveSemanticIds(string directory, string twoTowerBundle, RqVae rqvae, SemanticCodes codes, int beam)
    {
        Settings.Check(beam >= 1, "Beam", $"must be at least 1, got {beam}");
        var source = ReadManifest(twoTowerBundle);
        string sourceManifest = Path.Combine(twoTowerBundle, ManifestFile);
        if (KindOf(source, sourceManifest) != BundleKind.TwoTower)
            throw new FileFormatException(sourceManifest, $"is a {KindName(KindOf(source, sourceManifest))} bundle; semantic ids are built on a two-tower bundle's item vectors");
        var (tower, config) = LoadUserTower(twoTowerBundle, source);
        var itemVectors = LoadItemVectors(twoTowerBundle, -1, config.EmbeddingDim);
        if (codes.Count != itemVectors.Rows) throw new ArgumentException($"{codes.Count} semantic ids for the bundle's {itemVectors.Rows} items");
        var (itemIds, userIds, features, history, seen) = ReadUsersAndItems(twoTowerBundle, source, config);
        var manifest = new JsonObject { ["beam"] = beam, ["levels"] = codes.Levels };
        Write(directory, BundleKind.SemanticIds, UsersOf(config), itemVectors.Rows, itemIds, userIds, features, history, seen, manifest, staging =>
        {
            WriteUserTower(staging, tower, config);
            Npy.Write(Path.Combine(staging, ItemVectorsFile), itemVectors);
            RqVaeCheckpoint.Save(Path.Combine(staging, RqVaeFile), rqvae, new CheckpointInfo(0, 0, double.NaN), null);
            Npy.Write(Path.Combine(staging, SemanticCodesFile), codes.Codes, [codes.Count, codes.Levels]);
        });
    }

    /// <summary>
    /// Writes a sequence bundle: the encoder, an index over its item table's vectors (<paramref name="itemVectors"/>, row i = item i),
    /// each user's recent items (the latest <see cref="SequenceEncoderConfig.MaxLength"/> kept) and seen items.
    /// </summary>
    public static void SaveSequence(string directory, SequenceEncoder encoder, IVectorIndex index, Tensor itemVectors, IdMap itemIds, UserItemLists history, UserItemLists seen, IdMap? userIds = null)
    {
        var c = encoder.Config;
        if (index.Dimension != c.Dim || itemVectors.Rows != index.Count || itemVectors.Cols != c.Dim || index.Count != c.NumItems)
            throw new ArgumentException($"the index ({index.Count} x {index.Dimension}) and item vectors {itemVectors} must hold the encoder's {c.NumItems} items of width {c.Dim}");
        var users = new BundleUsers(history.UserCount, 0, c.MaxLength, c.ToJson());
        var manifest = IndexManifest(index);
        Write(directory, BundleKind.Sequence, users, index.Count, itemIds, userIds, new Tensor(history.UserCount, 0), history, seen, manifest, staging =>
        {
            StateDictFile.Save(Path.Combine(staging, SequenceEncoderFile), encoder, new Dictionary<string, string> { ["format"] = "vrecall-sequence-encoder", ["model_config"] = users.ConfigJson });
            WriteIndex(staging, index, itemVectors);
        });
    }

    /// <summary>What the common files describe: how many users, their feature count, how much history is kept, and the encoder's configuration (JSON).</summary>
    private sealed record BundleUsers(int Count, int Features, int HistoryLength, string ConfigJson);

    private static BundleUsers UsersOf(TowerConfig c) => new(c.NumUsers, c.UserFeatures, c.HistoryLength, c.ToJson());

    private static JsonObject IndexManifest(IVectorIndex index) =>
        new() { ["index"] = IndexFile, ["index_type"] = index.GetType().Name, ["metric"] = index.Metric.ToString() };

    /// <summary>An index over item vectors and the vectors themselves (kept for exact evaluation and export).</summary>
    private static void WriteIndex(string staging, IVectorIndex index, Tensor itemVectors)
    {
        index.Save(Path.Combine(staging, IndexFile));
        Npy.Write(Path.Combine(staging, ItemVectorsFile), itemVectors);
    }

    private static void WriteUserTower(string staging, UserTower tower, TowerConfig config) =>
        StateDictFile.Save(Path.Combine(staging, UserTowerFile), tower, new Dictionary<string, string> { ["format"] = "vrecall-user-tower", ["model_config"] = config.ToJson() });

    /// <summary>The common part of every kind: checks, the shared files, the kind's own files, the manifest, and the swap into place.</summary>
    private static void Write(string directory, BundleKind kind, BundleUsers c, int itemCount, IdMap itemIds, IdMap? userIds, Tensor userFeatures, UserItemLists history, UserItemLists seen,
        JsonObject kindManifest, Action<string> writeKindFiles)
    {
        if (itemIds.Count != itemCount) throw new ArgumentException($"{itemIds.Count} item ids for {itemCount} items");
        if (userIds is not null && userIds.Count != c.Count) throw new ArgumentException($"{userIds.Count} user ids for {c.Count} users");
        if (userFeatures.Rows != c.Count || userFeatures.Cols != c.Features) throw new ArgumentException($"user features are {userFeatures}, expected [{c.Count} x {c.Features}]");
        if (history.UserCount != c.Count || seen.UserCount != c.Count) throw new ArgumentException($"histories must cover the model's {c.Count} users");

        string full = Path.GetFullPath(directory.TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar));
        AtomicFile.RemoveStale(full);
        string staging = AtomicFile.TemporaryName(full);
        Directory.CreateDirectory(staging);
        try
        {
            writeKindFiles(staging);
            WriteIds(staging, ItemIdsFile, ItemIdsJsonFile, itemIds);
            if (userIds is not null) WriteIds(staging, UserIdsFile, UserIdsJsonFile, userIds);
            Npy.Write(Path.Combine(staging, UserFeaturesFile), userFeatures);
            var recent = history.Tail(c.HistoryLength);
            Npy.Write(Path.Combine(staging, HistoryOffsetsFile), recent.Offsets, [recent.Offsets.Length]);
            Npy.Write(Path.Combine(staging, HistoryItemsFile), recent.Items, [recent.Items.Length]);
            Npy.Write(Path.Combine(staging, SeenOffsetsFile), seen.Offsets, [seen.Offsets.Length]);
            Npy.Write(Path.Combine(staging, SeenItemsFile), seen.Items, [seen.Items.Length]);

            var files = new JsonObject();
            foreach (var path in Directory.GetFiles(staging).Order(StringComparer.Ordinal))
            {
                var (bytes, crc) = Checksum(path);
                files[Path.GetFileName(path)] = new JsonObject { ["bytes"] = bytes, ["crc32c"] = crc.ToString("x8", CultureInfo.InvariantCulture) };
            }
            var manifest = new JsonObject
            {
                ["format"] = Format,
                ["version"] = Version,
                ["kind"] = KindName(kind),
                ["created_utc"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture),
                ["model_config"] = JsonNode.Parse(c.ConfigJson),
                ["items"] = itemCount,
                ["users"] = c.Count,
            };
            foreach (var (key, value) in kindManifest) manifest[key] = value?.DeepClone();
            manifest["files"] = files;
            WriteManifest(Path.Combine(staging, ManifestFile), manifest);
            Replace(staging, full);
        }
        catch
        {
            try { Directory.Delete(staging, recursive: true); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>
    /// Swaps the finished staging folder in for the target; the old one is removed only after the swap. A target that
    /// holds files but no <paramref name="marker"/> (the manifest that says what the folder is) is not replaced.
    /// </summary>
    internal static void Replace(string staging, string target, string marker = ManifestFile)
    {
        if (File.Exists(target)) throw new IOException($"'{target}' is a file, not a bundle folder");
        if (!Directory.Exists(target))
        {
            Directory.Move(staging, target);
            return;
        }
        if (!File.Exists(Path.Combine(target, marker)) && Directory.EnumerateFileSystemEntries(target).Any())
            throw new IOException($"'{target}' exists and holds no {marker}; refusing to replace it");
        string old = AtomicFile.RetiredName(target);
        Directory.Move(target, old);
        Directory.Move(staging, target);
        Directory.Delete(old, recursive: true);
    }

    /// <summary>A file's length and CRC-32C; when <paramref name="expectedBytes"/> is given, a file of another length is reported without reading it.</summary>
    internal static (long Bytes, uint Crc) Checksum(string path, long expectedBytes = -1)
    {
        using var s = ContainedFile.OpenRegular(path);
        if (expectedBytes >= 0 && s.Length != expectedBytes) return (s.Length, 0);
        var crc = new Crc32C();
        var buffer = new byte[1 << 20];
        long total = 0;
        for (int n; (n = s.Read(buffer)) > 0; total += n) crc.Append(buffer.AsSpan(0, n));
        return (total, crc.Value);
    }

    /// <summary>Checks that a file a manifest lists is there with the size and CRC-32C (hex) the manifest gives, naming it and what is wrong.</summary>
    internal static void VerifyListedFile(string file, long bytes, string crc)
    {
        if (!File.Exists(file)) throw new FileFormatException(file, "listed in the manifest but missing");
        var (actualBytes, actualCrc) = Checksum(file, bytes);
        if (actualBytes != bytes) throw new FileFormatException(file, $"is {actualBytes} bytes, the manifest says {bytes} (truncated or replaced)");
        if (!string.Equals(actualCrc.ToString("x8", CultureInfo.InvariantCulture), crc, StringComparison.OrdinalIgnoreCase))
            throw new FileFormatException(file, $"checksum {actualCrc:x8} does not match the manifest's {Excerpt.Of(crc)} (corrupted)");
    }

    /// <summary>Writes a manifest (indented JSON) atomically.</summary>
    internal static void WriteManifest(string path, JsonObject manifest) => AtomicFile.Write(path, s =>
    {
        using var w = new Utf8JsonWriter(s, new JsonWriterOptions { Indented = true });
        manifest.WriteTo(w);
    });

    /// <summary>The largest manifest read: a real one is a few KiB; a huge one is not a manifest.</summary>
    internal const int MaxManifestBytes = 1 << 20;

    /// <summary>
    /// Reads and verifies the manifest: every field's type, the format and version, and every listed
    /// file's size and checksum. Listed files must be plain files inside the bundle folder.
    /// </summary>
    internal static JsonObject ReadManifest(string directory)
    {
        string path = Path.Combine(directory, ManifestFile);
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"bundle folder '{Path.GetFullPath(directory)}' does not exist");
        if (!File.Exists(path)) throw new FileFormatException(path, "missing: this folder is not a serving bundle");
        var manifest = ParseManifest(ReadManifestBytes(path), path);
        var files = JsonFields.Object(manifest, "files", path);
        foreach (var required in CommonFiles.Concat(KindFiles(KindOf(manifest, path))))
            if (!files.ContainsKey(required)) throw new FileFormatException(path, $"does not list '{required}'");
        if (!files.ContainsKey(ItemIdsFile) && !files.ContainsKey(ItemIdsJsonFile)) throw new FileFormatException(path, $"lists neither '{ItemIdsFile}' nor '{ItemIdsJsonFile}'");
        foreach (var (name, node) in files)
        {
            string file = ContainedFile.Resolve(directory, name, path);
            if (node is not JsonObject entry) throw new FileFormatException(path, $"field 'files.{name}' must be an object, found {JsonFields.Describe(node)}");
            long bytes = JsonFields.Int64(entry, "bytes", path, 0, prefix: $"files.{name}");
            string crc = JsonFields.String(entry, "crc32c", path, $"files.{name}");
            VerifyListedFile(file, bytes, crc);
        }
        return manifest;
    }

    /// <summary>The manifest's bytes, refusing a special file or one too large to be a manifest.</summary>
    internal static byte[] ReadManifestBytes(string path)
    {
        using var s = ContainedFile.OpenRegular(path);
        if (s.Length > MaxManifestBytes) throw new FileFormatException(path, $"is {s.Length} bytes; a manifest is at most {MaxManifestBytes}");
        var bytes = new byte[s.Length];
        s.ReadExactly(bytes);
        return bytes;
    }

    /// <summary>Parses a manifest and checks the type of every field it has, naming the file and the field on error.</summary>
    internal static JsonObject ParseManifest(ReadOnlySpan<byte> utf8, string path)
    {
        var manifest = JsonFields.ParseObject(utf8, path);
        string format = JsonFields.String(manifest, "format", path);
        if (format != Format) throw new FileFormatException(path, $"field 'format' is '{format}', expected '{Format}'");
        long version = JsonFields.Int64(manifest, "version", path);
        if (version != Version) throw new FileFormatException(path, $"field 'version' is {version}; this build reads bundle version {Version}");
        JsonFields.OptionalString(manifest, "created_utc", path);
        KindOf(manifest, path);
        JsonFields.Object(manifest, "model_config", path);
        JsonFields.Object(manifest, "files", path);
        foreach (var field in new[] { "index", "index_type", "metric", "tdm_scorer", "user_encoder" })
            if (manifest.ContainsKey(field)) JsonFields.String(manifest, field, path);
        foreach (var field in new[] { "items", "users", "beam", "levels" })
            if (manifest.ContainsKey(field)) JsonFields.Int64(manifest, field, path, 0, int.MaxValue);
        return manifest;
    }
}
