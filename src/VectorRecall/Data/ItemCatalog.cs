using VectorRecall.Numerics;

namespace VectorRecall.Data;

/// <summary>
/// What the item tower sees of each item: a category, a bag of tags (CSR: item i's tags are
/// <c>Tags[TagOffsets[i] .. TagOffsets[i+1])</c>) and a dense feature vector. Data without them has
/// <c>CategoryCount</c> 0, <c>TagCount</c> 0 (empty bags) and zero feature columns.
/// </summary>
public sealed class ItemCatalog
{
    public ItemCatalog(int[] categories, int categoryCount, int[] tagOffsets, int[] tags, int tagCount, Tensor features)
    {
        int n = categories.Length;
        if (tagOffsets.Length != n + 1 || tagOffsets[0] != 0 || tagOffsets[^1] != tags.Length)
            throw new ArgumentException($"tag offsets must have {n + 1} entries from 0 to {tags.Length}");
        if (features.Rank != 2 || features.Rows != n) throw new ArgumentException($"item features must be [{n} x F], got {features}");
        if (categoryCount > 0)
            for (int i = 0; i < n; i++)
                if ((uint)categories[i] >= (uint)categoryCount) throw new ArgumentException($"item {i}: category {categories[i]} is outside [0, {categoryCount})");
        foreach (int t in tags)
            if ((uint)t >= (uint)tagCount) throw new ArgumentException($"tag {t} is outside [0, {tagCount})");
        Categories = categories;
        CategoryCount = categoryCount;
        TagOffsets = tagOffsets;
        Tags = tags;
        TagCount = tagCount;
        Features = features;
    }

    public int Count => Categories.Length;
    public int[] Categories { get; }
    public int CategoryCount { get; }
    public int[] TagOffsets { get; }
    public int[] Tags { get; }
    public int TagCount { get; }
    public Tensor Features { get; }
    public int FeatureCount => Features.Cols;

    public ReadOnlySpan<int> TagsOf(int item) => Tags.AsSpan(TagOffsets[item], TagOffsets[item + 1] - TagOffsets[item]);

    /// <summary>Items known by id alone, or with attributes used as tags.</summary>
    public static ItemCatalog IdOnly(int items, UserItemLists? attributes = null, int attributeCount = 0) =>
        new(new int[items], 0, attributes?.Offsets ?? new int[items + 1], attributes?.Items ?? [], attributes is null ? 0 : attributeCount, new Tensor(items, 0));
}

/// <summary>
/// A recommendation data set: item side information, user profile features, and each user's
/// interactions split by time into train, validation and test (in that order within a user).
/// </summary>
public sealed class RecDataset
{
    public RecDataset(ItemCatalog items, Tensor userFeatures, UserItemLists train, UserItemLists validation, UserItemLists test)
    {
        int users = userFeatures.Rows;
        if (train.UserCount != users || validation.UserCount != users || test.UserCount != users)
            throw new ArgumentException($"splits must cover the {users} users that have features");
        foreach (var split in new[] { train, validation, test }) split.CheckItemsBelow(items.Count);
        Items = items;
        UserFeatures = userFeatures;
        Train = train;
        Validation = validation;
        Test = test;
    }

    public ItemCatalog Items { get; }
    public Tensor UserFeatures { get; }
    public UserItemLists Train { get; }
    public UserItemLists Validation { get; }
    public UserItemLists Test { get; }
    public int UserCount => UserFeatures.Rows;
    public int ItemCount => Items.Count;
    public int InteractionCount => Train.Count + Validation.Count + Test.Count;
    /// <summary>
    /// Whether the lists are in time order. When not, a training example's behaviour is the user's
    /// other items rather than the ones before it, and the train lists are shuffled once so that a
    /// "most recent" history is a random sample rather than, say, the highest ids.
    /// </summary>
    public bool Chronological { get; init; } = true;

    /// <summary>
    /// A loaded data set for training: ids only, with item attributes (if any) as tags. A data set
    /// that comes without a validation split (the LightGCN format) gets one: the last train item of
    /// each user with at least <see cref="MinItemsToHoldOut"/> (a random one when unordered), so that
    /// the served epoch can be chosen on data the model did not train on. Deterministic.
    /// </summary>
    public static RecDataset FromInteractions(InteractionDataset d)
    {
        var train = d.Chronological ? d.Train : d.Train.Shuffled(new Rng(0x5EEDUL));
        var validation = d.Validation;
        if (validation.Count == 0) (train, validation) = HoldOutLast(train);
        return new(ItemCatalog.IdOnly(d.ItemCount, d.ItemAttributes, d.AttributeCount), new Tensor(d.UserCount, 0), train, validation, d.Test)
        { Chronological = d.Chronological };
    }

    /// <summary>Users with fewer train items keep them all.</summary>
    public const int MinItemsToHoldOut = 3;

    private static (UserItemLists Train, UserItemLists Validation) HoldOutLast(UserItemLists lists)
    {
        var train = new List<int>[lists.UserCount];
        var validation = new List<int>[lists.UserCount];
        for (int u = 0; u < lists.UserCount; u++)
        {
            var items = lists.Of(u);
            int keep = items.Length >= MinItemsToHoldOut ? items.Length - 1 : items.Length;
            train[u] = [.. items[..keep]];
            validation[u] = [.. items[keep..]];
        }
        return (UserItemLists.FromLists(train), UserItemLists.FromLists(validation));
    }
}
