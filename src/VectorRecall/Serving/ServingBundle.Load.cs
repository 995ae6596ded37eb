using System.Text.Json.Nodes;
using VectorRecall.Data;
using VectorRecall.Indexing;
using VectorRecall.IO;
using VectorRecall.Numerics;
using VectorRecall.Retrieval;
using VectorRecall.SemanticIds;
using VectorRecall.Tdm;
using VectorRecall.Towers;

namespace VectorRecall.Serving;

/// <summary>A loaded bundle's parts: the user encoder and the retriever its kind describes, the item and user ids, and each user's seen items.</summary>
internal sealed record BundleParts(BundleKind Kind, IUserEncoder Encoder, IRetriever Retriever, IdMap ItemIds, IdMap UserIds, UserItemLists Seen);

/// <summary>What every kind's common files hold: the ids, and each user's profile features, recent history and seen items.</summary>
internal sealed record BundleUsersAndItems(IdMap ItemIds, IdMap UserIds, Tensor Features, UserItemLists History, UserItemLists Seen);

public static partial class ServingBundle
{
    /// <summary>The bundle's user tower with its trained weights and configuration (checked against the manifest), for every kind that has one (not a sequence encoder's).</summary>
    public static (UserTower Tower, TowerConfig Config) LoadUserTower(string directory)
    {
        var manifest = ReadManifest(directory);
        return LoadUserTower(directory, manifest);
    }

    private static (UserTower Tower, TowerConfig Config) LoadUserTower(string directory, JsonObject manifest)
    {
        string manifestPath = Path.Combine(directory, ManifestFile);
        var kind = KindOf(manifest, manifestPath);
        if (HasSequenceEncoder(kind, manifest, manifestPath))
            throw new ArgumentException($"{directory} is a {KindName(kind)} bundle whose user encoder is a sequence encoder, not a user tower (train a two-tower with --user-encoder bag for a tower to start from)");
        var manifestConfig = TowerConfig.FromJson(JsonFields.Object(manifest, "model_config", manifestPath).ToJsonString(), manifestPath);
        if (kind == BundleKind.Tdm)
        {
            string tdmPath = Path.Combine(directory, TdmModelFile);
            return TowerOf(TdmCheckpoint.Load(tdmPath).Model, manifestConfig, tdmPath);
        }
        string path = Path.Combine(directory, UserTowerFile);
        var config = TowerConfig.FromJson(SafeTensors.ReadMetadata(path).GetValueOrDefault("model_config") ?? "", path);
        var tower = new UserTower(config, new Rng(0));
        StateDictFile.Load(path, tower);
        return Checked(tower, config, manifestConfig, path);
    }

    /// <summary>
    /// A two-tower bundle's encoder of items it was not trained on (<see cref="ItemFeatureEncoder"/>), or null when the bundle
    /// has none: its model reads item ids only, it is another kind, or it was written before bundles kept one.
    /// </summary>
    public static ItemFeatureEncoder? LoadItemEncoder(string directory)
    {
        var manifest = ReadManifest(directory);
        string manifestPath = Path.Combine(directory, ManifestFile), path = Path.Combine(directory, ItemTowerFile);
        if (KindOf(manifest, manifestPath) != BundleKind.TwoTower || !JsonFields.Object(manifest, "files", manifestPath).ContainsKey(ItemTowerFile)) return null;
        var expected = TowerConfig.FromJson(JsonFields.Object(manifest, "model_config", manifestPath).ToJsonString(), manifestPath) with { NumItems = 1 };
        var config = TowerConfig.FromJson(SafeTensors.ReadMetadata(path).GetValueOrDefault("model_config") ?? "", path);
        if (!config.SameShape(expected)) throw new FileFormatException(path, "the item tower was written for a different model shape than the manifest describes");
        var tower = new ItemTower(config, new Rng(0));
        StateDictFile.Load(path, tower);
        try { return new ItemFeatureEncoder(tower, config); }
        catch (ArgumentException e) { throw new FileFormatException(path, e.Message); }
    }

    /// <summary>Whether the bundle's user encoder is a sequence encoder: a sequence bundle's, or a TDM bundle's whose manifest says so.</summary>
    private static bool HasSequenceEncoder(BundleKind kind, JsonObject manifest, string manifestPath) =>
        kind == BundleKind.Sequence || kind == BundleKind.Tdm && JsonFields.OptionalString(manifest, "user_encoder", manifestPath) switch
        {
            null or "user_tower" => false,
            "sequence" => true,
            var other => throw new FileFormatException(manifestPath, $"field 'user_encoder' is '{Excerpt.Of(other)}', expected user_tower or sequence"),
        };

    /// <summary>
    /// A sequence bundle's encoder with its trained weights, and the item table it reads histories through (row i = item i);
    /// what a TDM starts from when the two-tower is a sequence model.
    /// </summary>
    public static (SequenceEncoder Encoder, Tensor ItemVectors, int Users) LoadSequenceEncoder(string directory)
    {
        var manifest = ReadManifest(directory);
        string manifestPath = Path.Combine(directory, ManifestFile), path = Path.Combine(directory, SequenceEncoderFile);
        var kind = KindOf(manifest, manifestPath);
        if (kind != BundleKind.Sequence) throw new ArgumentException($"{directory} is a {KindName(kind)} bundle, not a sequence bundle");
        var config = SequenceEncoderConfig.FromJson(JsonFields.Object(manifest, "model_config", manifestPath).ToJsonString(), manifestPath);
        var encoder = new SequenceEncoder(config, new Rng(0));
        StateDictFile.Load(path, encoder);
        return (encoder, LoadItemVectors(directory, config.NumItems, config.Dim), UserCount(manifest, manifestPath));
    }

    /// <summary>A TDM model's user tower, checked against the manifest's description of it.</summary>
    private static (UserTower, TowerConfig) TowerOf(TdmModel model, TowerConfig manifestConfig, string path) =>
        Checked(model.User ?? throw new FileFormatException(path, "holds a sequence encoder, but the manifest describes a user tower"), model.Config.User!, manifestConfig, path);

    /// <summary>The number of users a manifest declares (what a sequence encoder's bundle has instead of a tower configuration).</summary>
    private static int UserCount(JsonObject manifest, string manifestPath) => (int)JsonFields.Int64(manifest, "users", manifestPath, 0, int.MaxValue);

    private static (UserTower, TowerConfig) Checked(UserTower tower, TowerConfig config, TowerConfig manifestConfig, string path) =>
        config.SameShape(manifestConfig) ? (tower, config) : throw new FileFormatException(path, "the user tower was written for a different model shape than the manifest describes");

    /// <summary>
    /// Loads and verifies a bundle of any kind; errors name the file and what is wrong with it.
    /// </summary>
    /// <remarks>
    /// With <paramref name="searchWith"/> (a two-tower or sequence bundle only), the users are encoded from the bundle but
    /// searched by that retriever (a shard cluster's, over the same item rows) and the bundle's own index is not loaded.
    /// </remarks>
    internal static BundleParts Open(string directory, IRetriever? searchWith = null)
    {
        var manifest = ReadManifest(directory);
        string manifestPath = Path.Combine(directory, ManifestFile);
        var kind = KindOf(manifest, manifestPath);
        if (searchWith is not null && kind is not (BundleKind.TwoTower or BundleKind.Sequence))
            throw new ArgumentException($"{directory} is a {KindName(kind)} bundle; only two_tower and sequence bundles are searched by another retriever");
        var (encoder, common, retriever) = kind switch
        {
            BundleKind.Tdm => OpenTdm(directory, manifest),
            BundleKind.Sequence => With(OpenSequenceEncoder(directory, manifest), searchWith ?? OpenIndex(directory)),
            BundleKind.TwoTower => With(OpenTowerEncoder(directory, manifest), searchWith ?? OpenIndex(directory)),
            _ => With(OpenTowerEncoder(directory, manifest), OpenSemanticIds(directory, manifest)),
        };
        try
        {
            if (retriever.Dimension != encoder.Dimension)
                throw new FileFormatException(manifestPath, $"the retriever takes {retriever.Dimension}-d vectors but the user encoder makes {encoder.Dimension}-d ones (files from different models)");
            if (retriever.ItemCount != common.ItemIds.Count)
                throw new FileFormatException(manifestPath, $"the item ids map {common.ItemIds.Count} items but the retriever holds {retriever.ItemCount}");
            return new BundleParts(kind, encoder, retriever, common.ItemIds, common.UserIds, common.Seen);
        }
        catch
        {
            retriever.Dispose();
            throw;
        }
    }

    private static (IUserEncoder Encoder, BundleUsersAndItems Common) OpenTowerEncoder(string directory, JsonObject manifest)
    {
        var (tower, config) = LoadUserTower(directory, manifest);
        var common = ReadUsersAndItems(directory, manifest, config);
        return (new TowerUserEncoder(tower, config, common.Features, common.History), common);
    }

    private static (IUserEncoder Encoder, BundleUsersAndItems Common, IRetriever Retriever) With((IUserEncoder Encoder, BundleUsersAndItems Common) users, IRetriever retriever) =>
        (users.Encoder, users.Common, retriever);

    private static (IUserEncoder Encoder, BundleUsersAndItems Common) OpenSequenceEncoder(string directory, JsonObject manifest)
    {
        // The served item table is what the encoder reads its history through, as the index searches it.
        var (encoder, itemVectors, users) = LoadSequenceEncoder(directory);
        var common = ReadUsersAndItems(directory, manifest, users, 0, encoder.Config.NumItems);
        return (new SequenceUserEncoder(encoder, common.History, itemVectors), common);
    }

    private static BundleUsersAndItems ReadUsersAndItems(string directory, JsonObject manifest, TowerConfig config) =>
        ReadUsersAndItems(directory, manifest, config.NumUsers, config.UserFeatures, config.NumItems);

    /// <summary>The files every kind shares: item and user ids, and each user's features, recent history and seen items.</summary>
    private static BundleUsersAndItems ReadUsersAndItems(string directory, JsonObject manifest, int users, int featureCount, int historyItems)
    {
        string File(string name) => Path.Combine(directory, name);
        var listed = Listed(directory, manifest);
        var itemIds = ReadItemIds(directory, manifest, listed);
        var userIds = ReadIds(directory, listed, UserIdsFile, UserIdsJsonFile, users) ?? IdMap.Sequential(users);
        var features = Npy.ReadMatrix(File(UserFeaturesFile));
        if (features.Rows != users || features.Cols != featureCount)
            throw new FileFormatException(File(UserFeaturesFile), $"is [{features.Rows} x {features.Cols}], expected [{users} x {featureCount}]");
        var history = ReadLists(directory, HistoryOffsetsFile, HistoryItemsFile, users, historyItems);
        var seen = ReadLists(directory, SeenOffsetsFile, SeenItemsFile, users, itemIds.Count);
        return new BundleUsersAndItems(itemIds, userIds, features, history, seen);
    }

    private static IndexRetriever OpenIndex(string directory) => new(IndexFactory.Load(Path.Combine(directory, IndexFile)));

    /// <summary>A TDM bundle's model, loaded once: its user encoder (tower or sequence encoder, as the manifest says) and its beam search.</summary>
    private static (IUserEncoder Encoder, BundleUsersAndItems Common, IRetriever Retriever) OpenTdm(string directory, JsonObject manifest)
    {
        string manifestPath = Path.Combine(directory, ManifestFile), path = Path.Combine(directory, TdmModelFile);
        bool sequence = HasSequenceEncoder(BundleKind.Tdm, manifest, manifestPath);
        var (model, tree, _) = TdmCheckpoint.Load(path);
        var retriever = TdmRetriever.Create(model, tree, Beam(directory, manifest));
        if (!sequence)
        {
            var manifestConfig = TowerConfig.FromJson(JsonFields.Object(manifest, "model_config", manifestPath).ToJsonString(), manifestPath);
            var (tower, config) = TowerOf(model, manifestConfig, path);
            var common = ReadUsersAndItems(directory, manifest, config);
            return (new TowerUserEncoder(tower, config, common.Features, common.History), common, retriever);
        }
        var user = model.Sequence ?? throw new FileFormatException(path, "holds a user tower, but the manifest says the user encoder is a sequence encoder");
        var described = SequenceEncoderConfig.FromJson(JsonFields.Object(manifest, "model_config", manifestPath).ToJsonString(), manifestPath);
        if (described != user.Config) throw new FileFormatException(path, "the sequence encoder was written for a different model shape than the manifest describes");
        var shared = ReadUsersAndItems(directory, manifest, UserCount(manifest, manifestPath), 0, user.Config.NumItems);
        return (user.Users(shared.History), shared, retriever);
    }

    private static SemanticIdRetriever OpenSemanticIds(string directory, JsonObject manifest)
    {
        string rqPath = Path.Combine(directory, RqVaeFile), codesPath = Path.Combine(directory, SemanticCodesFile);
        var (rqvae, _, _) = RqVaeCheckpoint.Load(rqPath);
        var items = LoadItemVectors(directory, -1, -1);
        RqVaeCheckpoint.CheckData(rqvae, items, rqPath, Path.Combine(directory, ItemVectorsFile));
        var codes = Npy.Read(codesPath);
        int levels = rqvae.Config.NumEmbList.Length;
        if (codes.Type != ElementType.Int32 || codes.Shape.Length != 2 || codes.Shape[0] != items.Rows || codes.Shape[1] != levels + 1 && codes.Shape[1] != levels)
            throw new FileFormatException(codesPath, $"is {codes.Type} [{string.Join(", ", codes.Shape)}], expected int32 [{items.Rows}, {levels} or {levels + 1}]");
        var values = (int[])codes.Data;
        // The collision-resolving last position has as many codes as the largest group of equal prefixes.
        int columns = codes.Shape[1];
        var sizes = columns > levels ? [.. rqvae.Config.NumEmbList, Enumerable.Range(0, items.Rows).Select(i => values[i * columns + levels]).DefaultIfEmpty(0).Max() + 1] : rqvae.Config.NumEmbList;
        SemanticCodes semantic;
        try { semantic = new SemanticCodes(values, sizes); }
        catch (ArgumentException e) { throw new FileFormatException(codesPath, e.Message); }
        return new SemanticIdRetriever(rqvae, items, semantic, Beam(directory, manifest));
    }

    private static int Beam(string directory, JsonObject manifest) =>
        (int)JsonFields.Int64(manifest, "beam", Path.Combine(directory, ManifestFile), 1, int.MaxValue);

    /// <summary>The item vectors of a two-tower, sequence or semantic-id bundle ([items × dim]; −1 skips a check of the shape).</summary>
    public static Tensor LoadItemVectors(string directory, int items, int dimension)
    {
        string path = Path.Combine(directory, ItemVectorsFile);
        if (!System.IO.File.Exists(path)) throw new FileFormatException(path, "missing: a TDM bundle keeps no item vectors");
        var vectors = Npy.ReadMatrix(path);
        if (items >= 0 && vectors.Rows != items || dimension >= 0 && vectors.Cols != dimension)
            throw new FileFormatException(path, $"is [{vectors.Rows} x {vectors.Cols}], expected [{items} x {dimension}]");
        return vectors;
    }

    internal static T[] ReadArray<T>(string path, ElementType type)
    {
        var a = Npy.Read(path);
        if (a.Type != type || a.Shape.Length != 1) throw new FileFormatException(path, $"expected a 1-d {type} array, found {a.Type} [{string.Join(", ", a.Shape)}]");
        return (T[])a.Data;
    }

    private static UserItemLists ReadLists(string directory, string offsetsName, string itemsName, int users, int items)
    {
        var offsets = ReadArray<int>(Path.Combine(directory, offsetsName), ElementType.Int32);
        var values = ReadArray<int>(Path.Combine(directory, itemsName), ElementType.Int32);
        try
        {
            if (offsets.Length != users + 1) throw new ArgumentException($"has {offsets.Length} offsets, expected {users + 1}");
            foreach (int i in values) if ((uint)i >= (uint)items) throw new ArgumentException($"item {i} is outside [0, {items})");
            return new UserItemLists(offsets, values);
        }
        catch (ArgumentException e) { throw new FileFormatException(Path.Combine(directory, offsetsName), e.Message); }
    }
}
