using VectorRecall.Autograd;
using VectorRecall.Data;
using VectorRecall.Indexing;
using VectorRecall.Numerics;
using VectorRecall.Serving;
using VectorRecall.Towers;
using VectorRecall.TwoTower;

namespace VectorRecall.Tests.Towers;

/// <summary>
/// The item tower without its id table: an item described by its category, tags and features gets what the trained tower
/// gives that description with the id row zeroed, from the model and from its bundle alike; descriptions it cannot read are
/// refused naming the field; and item-id dropout zeroes whole id rows in training only.
/// </summary>
public class ItemFeatureEncoderTests
{
    private static TrainedSmallModel Model => TrainedSmallModel.Shared;

    private static ItemDescription DescriptionOf(ItemCatalog catalog, int item) =>
        new(catalog.Categories[item], catalog.TagsOf(item).ToArray(), catalog.Features.Row(item).ToArray());

    /// <summary>The trained tower's vector for <paramref name="item"/> with its id embedding replaced by zeros (on a copy: other tests read the shared model).</summary>
    private static float[] WithUnseenId(TwoTowerModel trained, ItemCatalog catalog, int item)
    {
        var model = new TwoTowerModel(trained.Config, new Rng(0));
        model.LoadStateDict(trained.StateDict());
        model.Item.Id.Weight.Value.Row(item).Clear();
        return TowerEncoder.EncodeItems(model.Item, catalog).Row(item).ToArray();
    }

    [Fact]
    public void ADescribedItemGetsTheTrainedTowersVectorWithAnUnseenId()
    {
        var catalog = Model.Data.Items;
        var encoder = ItemFeatureEncoder.FromTrained(Model.Model.Item, Model.Config);
        int[] items = [0, 7, 1999];
        var vectors = encoder.Encode([.. items.Select(i => DescriptionOf(catalog, i))]);
        for (int j = 0; j < items.Length; j++)
        {
            var expected = WithUnseenId(Model.Model, catalog, items[j]);
            Assert.Equal(Model.Config.EmbeddingDim, vectors[j].Length);
            for (int d = 0; d < expected.Length; d++) Assert.Equal(expected[d], vectors[j][d], 1e-5f);
        }
        // The id embedding matters: the trained vector is another one.
        Assert.NotEqual(Model.ItemVectors.Row(7).ToArray(), vectors[1]);
    }

    [Fact]
    public void TheBundleKeepsTheTowerWithoutItsIdTable()
    {
        var encoder = ServingBundle.LoadItemEncoder(Model.BundlePath);
        Assert.NotNull(encoder);
        Assert.Equal(1, encoder.Tower.Id.Weight.Value.Rows);
        var description = DescriptionOf(Model.Data.Items, 42);
        var fromModel = ItemFeatureEncoder.FromTrained(Model.Model.Item, Model.Config).Encode([description])[0];
        Assert.Equal(fromModel, encoder.Encode([description])[0]);
        // A third of a kilobyte per id row would be the whole catalogue on every front end: the file holds none of it.
        long idTable = (long)Model.Config.NumItems * Model.Config.IdDim * sizeof(float);
        Assert.True(new FileInfo(Path.Combine(Model.BundlePath, "item_tower.safetensors")).Length < idTable);
    }

    [Fact]
    public void AModelOfIdsAloneHasNoItemTowerInItsBundle()
    {
        using var dir = new TempDir();
        var config = new TowerConfig { NumUsers = 4, NumItems = 10, IdDim = 4, BehaviourDim = 4, Hidden = [8], EmbeddingDim = 4 };
        Assert.False(ItemFeatureEncoder.HasDescription(config));
        var model = new TwoTowerModel(config, new Rng(3));
        var vectors = Tensor.Uniform(new Rng(4), -1, 1, 10, 4);
        using var index = TowerEncoder.BuildIndex(vectors, "Flat");
        var lists = UserItemLists.FromLists([[1], [2], [3], [4]]);
        ServingBundle.Save(dir.File("b"), model, index, vectors, IdMap.Sequential(10), new Tensor(4, 0), lists, lists);
        Assert.False(File.Exists(dir.File("b/item_tower.safetensors")));
        Assert.Null(ServingBundle.LoadItemEncoder(dir.File("b")));
        Assert.Throws<ArgumentException>(() => ItemFeatureEncoder.FromTrained(model.Item, config));
    }

    public static TheoryData<string, int?, int[]?, int, string> BadDescriptions() => new()
    {
        { "no category", null, [1], 32, "category" },
        { "category past the vocabulary", 100, [1], 32, "category" },
        { "negative category", -1, [1], 32, "category" },
        { "tag past the vocabulary", 3, [1, 1000], 32, "tags[1]" },
        { "too many tags", 3, new int[ItemFeatureEncoder.MaxTags + 1], 32, "tags" },
        { "no features", 3, [1], -1, "features" },
        { "too few features", 3, [1], 31, "features" },
    };

    [Theory]
    [MemberData(nameof(BadDescriptions))]
    public void DescriptionsTheTowerCannotReadAreRefusedNamingTheField(string why, int? category, int[]? tags, int features, string field)
    {
        var encoder = ItemFeatureEncoder.FromTrained(Model.Model.Item, Model.Config);
        var e = Assert.Throws<ItemDescriptionException>(() => encoder.Encode([new ItemDescription(category, tags, features < 0 ? null : new float[features])]));
        Assert.True(e.Field == field, $"{why}: {e.Field}: {e.Message}");
    }

    [Fact]
    public void ANonFiniteFeatureIsRefused()
    {
        var encoder = ItemFeatureEncoder.FromTrained(Model.Model.Item, Model.Config);
        var features = new float[32];
        features[5] = float.NaN;
        Assert.Equal("features[5]", Assert.Throws<ItemDescriptionException>(() => encoder.Check(new ItemDescription(0, null, features))).Field);
        // Tags may be left out (an empty bag).
        encoder.Check(new ItemDescription(0, null, new float[32]));
    }

    [Fact]
    public void ItemIdDropoutZeroesWholeIdRowsInTrainingOnly()
    {
        var data = Model.Data;
        var config = Model.Config with { ItemIdDropout = 0.5f, Dropout = 0 };
        var tower = new ItemTower(config, new Rng(9));
        int n = 400;
        var batch = ItemBatch.Gather(data.Items, [.. Enumerable.Range(0, n)]);
        using (var tape = new Tape()) tape.Backward(Ops.Sum(tower.Forward(batch)));
        var grad = tower.Id.Weight.Grad!;
        int dropped = Enumerable.Range(0, n).Count(r => grad.Row(r).IndexOfAnyExcept(0f) < 0);
        Assert.InRange(dropped, n * 0.4, n * 0.6);

        tower.Eval();
        var plain = new ItemTower(config with { ItemIdDropout = 0 }, new Rng(9));
        plain.LoadStateDict(tower.StateDict());
        plain.Eval();
        Assert.Equal(Tape.NoGrad(() => plain.Forward(batch).Value.ToArray()), Tape.NoGrad(() => tower.Forward(batch).Value.ToArray()));
    }
}
