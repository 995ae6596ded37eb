namespace VectorRecall.Data;

/// <summary>
/// Interactions read from a real data set: dense user and item indices (with the original ids
/// kept), each user's items split into train / validation / test, and optional item attributes
/// (category, brand, …) as a bag per item.
/// </summary>
public sealed class InteractionDataset
{
    public InteractionDataset(string name, IdMap userIds, IdMap itemIds, UserItemLists train, UserItemLists validation, UserItemLists test,
        UserItemLists? itemAttributes = null, int attributeCount = 0, bool chronological = true)
    {
        int users = userIds.Count, items = itemIds.Count;
        foreach (var split in new[] { train, validation, test })
        {
            if (split.UserCount != users) throw new ArgumentException($"a split covers {split.UserCount} users, expected {users}");
            split.CheckItemsBelow(items);
        }
        if (itemAttributes is not null && itemAttributes.UserCount != items) throw new ArgumentException($"attributes cover {itemAttributes.UserCount} items, expected {items}");
        Name = name;
        UserIds = userIds;
        ItemIds = itemIds;
        Train = train;
        Validation = validation;
        Test = test;
        ItemAttributes = itemAttributes;
        AttributeCount = attributeCount;
        Chronological = chronological;
    }

    public string Name { get; }
    /// <summary>Original id of each user index.</summary>
    public IdMap UserIds { get; }
    /// <summary>Original id of each item index.</summary>
    public IdMap ItemIds { get; }
    public UserItemLists Train { get; }
    public UserItemLists Validation { get; }
    public UserItemLists Test { get; }
    /// <summary>Each item's attribute indices (rows are items), or null when the data set has none.</summary>
    public UserItemLists? ItemAttributes { get; }
    public int AttributeCount { get; }
    /// <summary>
    /// Whether each user's lists are in time order. The LightGCN format (and a CSV without
    /// timestamps) gives sets: there is no "before" an interaction and no "most recent" history.
    /// </summary>
    public bool Chronological { get; }
    public int UserCount => UserIds.Count;
    public int ItemCount => ItemIds.Count;

    /// <summary>One line of counts, as the loaders report them.</summary>
    public string Describe() =>
        $"{Name}: {UserCount:N0} users, {ItemCount:N0} items, {Train.Count + Validation.Count + Test.Count:N0} interactions " +
        $"(train {Train.Count:N0}, validation {Validation.Count:N0}, test {Test.Count:N0})" +
        (ItemAttributes is null ? "" : $", {AttributeCount:N0} item attributes") + (Chronological ? "" : ", unordered");

    /// <summary>
    /// Leave-last-out, as TIGER and S3-Rec split: each user's last item is test, the one before it
    /// validation, the rest train. A user with two items gives one to train and one to test; with
    /// one, it goes to train.
    /// </summary>
    public static (UserItemLists Train, UserItemLists Validation, UserItemLists Test) LeaveLastOut(IReadOnlyList<IReadOnlyList<int>> sequences)
    {
        var train = new List<int>[sequences.Count];
        var validation = new List<int>[sequences.Count];
        var test = new List<int>[sequences.Count];
        for (int u = 0; u < sequences.Count; u++)
        {
            var s = sequences[u];
            int n = s.Count;
            int trainEnd = n >= 3 ? n - 2 : n == 2 ? 1 : n;
            train[u] = [.. s.Take(trainEnd)];
            validation[u] = n >= 3 ? [s[n - 2]] : [];
            test[u] = n >= 2 ? [s[n - 1]] : [];
        }
        return (UserItemLists.FromLists(train), UserItemLists.FromLists(validation), UserItemLists.FromLists(test));
    }
}
