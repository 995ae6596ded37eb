using VectorRecall.Data;
using VectorRecall.Numerics;

namespace VectorRecall.TwoTower;

/// <summary>The user tower's input for a batch: ids (−1 for a user the model has not seen), profile features, behaviour histories (CSR).</summary>
public sealed class UserBatch
{
    public UserBatch(int[] ids, Tensor features, int[] historyItems, int[] historyOffsets)
    {
        if (features.Rows != ids.Length) throw new ArgumentException($"{ids.Length} users but {features.Rows} feature rows");
        if (historyOffsets.Length != ids.Length) throw new ArgumentException($"{ids.Length} users but {historyOffsets.Length} history offsets");
        Ids = ids;
        Features = features;
        HistoryItems = historyItems;
        HistoryOffsets = historyOffsets;
    }

    public int Count => Ids.Length;
    public int[] Ids { get; }
    public Tensor Features { get; }
    public int[] HistoryItems { get; }
    /// <summary>Start of each user's history in <see cref="HistoryItems"/> (EmbeddingBag offsets).</summary>
    public int[] HistoryOffsets { get; }

    /// <summary>
    /// A batch of known users whose features and histories come from tables. A user's history is the
    /// last <paramref name="historyLength"/> items of its list, or of the first <c>cutoffs[r]</c> items
    /// when cutoffs are given (a training example sees only what came before it).
    /// </summary>
    public static UserBatch Gather(ReadOnlySpan<int> users, Tensor userFeatures, UserItemLists history, int historyLength, ReadOnlySpan<int> cutoffs = default)
    {
        if (!cutoffs.IsEmpty && cutoffs.Length != users.Length) throw new ArgumentException($"{cutoffs.Length} cutoffs for {users.Length} users");
        var features = new Tensor(users.Length, userFeatures.Cols);
        var offsets = new int[users.Length];
        int total = 0;
        for (int r = 0; r < users.Length; r++) total += Math.Min(historyLength, cutoffs.IsEmpty ? history.CountOf(users[r]) : cutoffs[r]);
        var items = new int[total];
        int at = 0;
        for (int r = 0; r < users.Length; r++)
        {
            int u = users[r];
            userFeatures.Row(u).CopyTo(features.Row(r));
            offsets[r] = at;
            var h = history.Of(u);
            if (!cutoffs.IsEmpty) h = h[..cutoffs[r]];
            h = h[Math.Max(0, h.Length - historyLength)..];
            h.CopyTo(items.AsSpan(at));
            at += h.Length;
        }
        return new UserBatch(users.ToArray(), features, items, offsets);
    }
}

/// <summary>The item tower's input for a batch: ids, categories, tag bags (CSR) and dense features.</summary>
public sealed class ItemBatch
{
    private ItemBatch(int[] ids, int[] categories, int[] tags, int[] tagOffsets, Tensor features)
    {
        Ids = ids;
        Categories = categories;
        Tags = tags;
        TagOffsets = tagOffsets;
        Features = features;
    }

    public int Count => Ids.Length;
    public int[] Ids { get; }
    public int[] Categories { get; }
    public int[] Tags { get; }
    public int[] TagOffsets { get; }
    public Tensor Features { get; }

    public static ItemBatch Gather(ItemCatalog catalog, ReadOnlySpan<int> items)
    {
        var categories = new int[items.Length];
        var offsets = new int[items.Length];
        var features = new Tensor(items.Length, catalog.FeatureCount);
        int total = 0;
        foreach (int i in items)
        {
            if ((uint)i >= (uint)catalog.Count) throw new ArgumentOutOfRangeException(nameof(items), $"item {i} is outside the catalog [0, {catalog.Count})");
            total += catalog.TagsOf(i).Length;
        }
        var tags = new int[total];
        int at = 0;
        for (int r = 0; r < items.Length; r++)
        {
            int i = items[r];
            categories[r] = catalog.Categories[i];
            offsets[r] = at;
            var t = catalog.TagsOf(i);
            t.CopyTo(tags.AsSpan(at));
            at += t.Length;
            catalog.Features.Row(i).CopyTo(features.Row(r));
        }
        return new ItemBatch(items.ToArray(), categories, tags, offsets, features);
    }
}
