using VectorRecall.Numerics;

namespace VectorRecall.Towers;

/// <summary>
/// An item described by what the item tower reads besides its id: its category, its tags and its dense features (each
/// given exactly when the tower has that branch). What a live item is sent as when its vector should come from the model.
/// </summary>
public sealed record ItemDescription(int? Category, int[]? Tags, float[]? Features);

/// <summary>A description the item tower cannot read; <see cref="Field"/> names the part (<c>category</c>, <c>tags[2]</c>, <c>features</c>).</summary>
public sealed class ItemDescriptionException(string field, string message) : ArgumentException(message)
{
    public string Field { get; } = field;
}

/// <summary>
/// The item tower as serving uses it for items it was not trained on: the category, tag and feature branches and the MLP,
/// with the id embedding of an item it has never seen (zeros, where training started every id; the mean of the trained ids
/// measured the same on generated data). Kept in a two-tower bundle apart from the trained id table, which is as large as
/// the item vectors and would have every front end of a sharded cluster hold the whole catalogue. An item encoded from its
/// description alone is placed by what its description says; training with <see cref="TowerConfig.ItemIdDropout"/> teaches
/// the tower to place such items well.
/// </summary>
public sealed class ItemFeatureEncoder
{
    /// <summary>The most tags one item may carry (bounds the work one request asks for).</summary>
    public const int MaxTags = 1024;

    private readonly ItemTower _tower;

    /// <summary>Wraps a one-row item tower (its only id row is the unseen item's); see <see cref="FromTrained"/>.</summary>
    public ItemFeatureEncoder(ItemTower tower, TowerConfig config)
    {
        if (tower.Id.Weight.Value.Rows != 1 || config.NumItems != 1)
            throw new ArgumentException($"the encoder's tower holds the one id row of an unseen item, got {tower.Id.Weight.Value.Rows}");
        if (!HasDescription(config)) throw new ArgumentException("this item tower reads item ids only: nothing describes an item it was not trained on");
        _tower = tower;
        Config = config;
    }

    /// <summary>The tower's configuration (<see cref="TowerConfig.NumItems"/> = 1).</summary>
    public TowerConfig Config { get; }

    /// <summary>The tower itself, for saving.</summary>
    public ItemTower Tower => _tower;

    /// <summary>Width of the vectors it gives.</summary>
    public int Dimension => Config.EmbeddingDim;

    /// <summary>Whether a model of <paramref name="config"/> reads anything of an item besides its id.</summary>
    public static bool HasDescription(TowerConfig config) => config.Categories > 0 || config.Tags > 0 || config.ItemFeatures > 0;

    /// <summary>The unseen-item encoder of a trained tower: every weight but the id table's copied, the id row zeros.</summary>
    public static ItemFeatureEncoder FromTrained(ItemTower trained, TowerConfig config)
    {
        var oneRow = config with { NumItems = 1 };
        var tower = new ItemTower(oneRow, new Rng(0));
        var state = trained.StateDict();
        state[IdWeightName] = new Tensor(1, config.IdDim);
        tower.LoadStateDict(state);
        return new ItemFeatureEncoder(tower, oneRow);
    }

    /// <summary>The state-dict name of the id table.</summary>
    internal const string IdWeightName = "id.weight";

    /// <summary>
    /// Refuses a description this tower cannot read with an <see cref="ItemDescriptionException"/> naming the field: a branch given that the model lacks or left out that it has, a
    /// category or tag outside the vocabulary, the wrong number of features, or one that is not finite.
    /// </summary>
    public void Check(ItemDescription item)
    {
        var c = Config;
        if (c.Categories > 0 != item.Category is not null)
            throw new ItemDescriptionException("category", c.Categories > 0 ? $"is required: this model's items have one of {c.Categories} categories" : "is not read by this model (its items have no categories)");
        if (item.Category is { } category && (uint)category >= (uint)c.Categories)
            throw new ItemDescriptionException("category", $"is {category}, outside 0 .. {c.Categories - 1}");
        if (c.Tags == 0 && item.Tags is not null) throw new ItemDescriptionException("tags", "are not read by this model (its items have no tags)");
        if (item.Tags is { } tags)
        {
            if (tags.Length > MaxTags) throw new ItemDescriptionException("tags", $"has {tags.Length} tags, at most {MaxTags}");
            for (int i = 0; i < tags.Length; i++)
                if ((uint)tags[i] >= (uint)c.Tags) throw new ItemDescriptionException($"tags[{i}]", $"tag {tags[i]} is outside 0 .. {c.Tags - 1}");
        }
        if (c.ItemFeatures > 0 != item.Features is not null)
            throw new ItemDescriptionException("features", c.ItemFeatures > 0 ? $"is required: this model's items have {c.ItemFeatures} features" : "are not read by this model (its items have no dense features)");
        if (item.Features is { } features)
        {
            if (features.Length != c.ItemFeatures) throw new ItemDescriptionException("features", $"has {features.Length} values, this model's items have {c.ItemFeatures}");
            for (int i = 0; i < features.Length; i++)
                if (!float.IsFinite(features[i])) throw new ItemDescriptionException($"features[{i}]", $"is {features[i]}, not a finite number");
        }
    }

    /// <summary>The vectors of <paramref name="items"/> (each checked first), in order; the tower runs once for all of them, in evaluation mode.</summary>
    public float[][] Encode(IReadOnlyList<ItemDescription> items)
    {
        foreach (var item in items) Check(item);
        return EncodeChecked(items);
    }

    /// <summary><see cref="Encode"/> for descriptions the caller has already passed through <see cref="Check"/> (naming each failure its own way).</summary>
    internal float[][] EncodeChecked(IReadOnlyList<ItemDescription> items)
    {
        if (items.Count == 0) return [];
        var c = Config;
        var offsets = new int[items.Count + 1];
        for (int i = 0; i < items.Count; i++) offsets[i + 1] = offsets[i] + (items[i].Tags?.Length ?? 0);
        var tags = new int[offsets[^1]];
        var features = new Tensor(items.Count, c.ItemFeatures);
        for (int i = 0; i < items.Count; i++)
        {
            items[i].Tags?.CopyTo(tags, offsets[i]);
            items[i].Features?.CopyTo(features.Row(i));
        }
        var batch = new ItemBatch(new int[items.Count], [.. items.Select(item => item.Category ?? 0)], tags, offsets[..^1], features);
        Tensor? vectors = null;
        TowerEncoder.InEval(_tower, () => vectors = _tower.Forward(batch).Value);
        return [.. Enumerable.Range(0, items.Count).Select(i => vectors!.Row(i).ToArray())];
    }
}
