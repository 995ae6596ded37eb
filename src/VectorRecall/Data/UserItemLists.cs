using VectorRecall.Numerics;

namespace VectorRecall.Data;

/// <summary>
/// Each user's items in time order, stored compressed by row (CSR): user u's items are
/// <c>Items[Offsets[u] .. Offsets[u+1])</c>. Used for the train / validation / test splits and for histories.
/// </summary>
public sealed class UserItemLists
{
    public UserItemLists(int[] offsets, int[] items)
    {
        if (offsets.Length == 0 || offsets[0] != 0 || offsets[^1] != items.Length)
            throw new ArgumentException($"offsets must start at 0 and end at the item count {items.Length}");
        for (int u = 0; u + 1 < offsets.Length; u++)
            if (offsets[u + 1] < offsets[u]) throw new ArgumentException($"offsets decrease at user {u}");
        Offsets = offsets;
        Items = items;
    }

    public int[] Offsets { get; }
    public int[] Items { get; }
    public int UserCount => Offsets.Length - 1;
    public int Count => Items.Length;

    public ReadOnlySpan<int> Of(int user) => Items.AsSpan(Offsets[user], Offsets[user + 1] - Offsets[user]);

    public int CountOf(int user) => Offsets[user + 1] - Offsets[user];

    /// <summary>A user's list as memory (for work that outlives a span: batches prepared on another thread).</summary>
    public ReadOnlyMemory<int> MemoryOf(int user) => Items.AsMemory(Offsets[user], CountOf(user));

    /// <summary>Every entry as (user, position in the user's list): the training examples of a split.</summary>
    public (int[] User, int[] Position) Entries()
    {
        var user = new int[Count];
        var position = new int[Count];
        for (int u = 0, k = 0; u < UserCount; u++)
            for (int p = 0; p < CountOf(u); p++, k++) { user[k] = u; position[k] = p; }
        return (user, position);
    }

    /// <summary>Throws unless every item is an index in [0, <paramref name="itemCount"/>).</summary>
    public void CheckItemsBelow(int itemCount)
    {
        foreach (int i in Items)
            if ((uint)i >= (uint)itemCount) throw new ArgumentException($"item index {i} is outside [0, {itemCount})");
    }

    /// <summary>Builds the lists from one sequence per user.</summary>
    public static UserItemLists FromLists(IReadOnlyList<IReadOnlyList<int>> perUser)
    {
        var offsets = new int[perUser.Count + 1];
        for (int u = 0; u < perUser.Count; u++) offsets[u + 1] = offsets[u] + perUser[u].Count;
        var items = new int[offsets[^1]];
        for (int u = 0; u < perUser.Count; u++)
            for (int i = 0; i < perUser[u].Count; i++) items[offsets[u] + i] = perUser[u][i];
        return new UserItemLists(offsets, items);
    }

    /// <summary>Per user, this list followed by <paramref name="later"/>'s (for example train then validation).</summary>
    public UserItemLists Concat(UserItemLists later)
    {
        if (later.UserCount != UserCount) throw new ArgumentException($"cannot join lists of {UserCount} and {later.UserCount} users");
        var offsets = new int[UserCount + 1];
        var items = new int[Count + later.Count];
        for (int u = 0; u < UserCount; u++)
        {
            Of(u).CopyTo(items.AsSpan(offsets[u]));
            later.Of(u).CopyTo(items.AsSpan(offsets[u] + CountOf(u)));
            offsets[u + 1] = offsets[u] + CountOf(u) + later.CountOf(u);
        }
        return new UserItemLists(offsets, items);
    }

    /// <summary>The last <paramref name="length"/> items of each user's list (the most recent behaviour).</summary>
    public UserItemLists Tail(int length)
    {
        var offsets = new int[UserCount + 1];
        for (int u = 0; u < UserCount; u++) offsets[u + 1] = offsets[u] + Math.Min(length, CountOf(u));
        var items = new int[offsets[^1]];
        for (int u = 0; u < UserCount; u++)
        {
            var all = Of(u);
            all[(all.Length - (offsets[u + 1] - offsets[u]))..].CopyTo(items.AsSpan(offsets[u]));
        }
        return new UserItemLists(offsets, items);
    }

    /// <summary>A copy with each user's items in a random order (for lists that are sets, not sequences).</summary>
    public UserItemLists Shuffled(Numerics.Rng rng)
    {
        var items = (int[])Items.Clone();
        for (int u = 0; u < UserCount; u++) rng.Shuffle(items.AsSpan(Offsets[u], CountOf(u)));
        return new UserItemLists(Offsets, items);
    }

    /// <summary>How many times each item occurs across all users.</summary>
    public int[] ItemCounts(int itemCount)
    {
        var counts = new int[itemCount];
        foreach (int i in Items) counts[i]++;
        return counts;
    }

    /// <summary>
    /// The normalised interaction matrix R̃ = D_u^(−ε) R D_i^(−ε) [users × items]: each interaction weighted by
    /// (deg u · deg i)^(−ε). ε = ½, the default, is the symmetric normalisation LightGCN's propagation and GF-CF's filter
    /// use; a smaller ε lets popular users and items keep more weight (SGFCF's generalised normalisation, Peng et al., 2024).
    /// </summary>
    public SparseMatrix NormalizedMatrix(int itemCount, float exponent = 0.5f)
    {
        if (!(exponent >= 0 && exponent <= 1)) throw new ArgumentOutOfRangeException(nameof(exponent), $"the normalisation exponent must be in [0, 1], got {exponent}");
        var degree = ItemCounts(itemCount);
        var values = new float[Count];
        for (int u = 0; u < UserCount; u++)
            for (int e = Offsets[u]; e < Offsets[u + 1]; e++)
                values[e] = DegreePower((float)CountOf(u) * degree[Items[e]], -exponent);
        return new SparseMatrix(UserCount, itemCount, (int[])Offsets.Clone(), (int[])Items.Clone(), values);
    }

    /// <summary>
    /// A degree (or a product of degrees) to the power <paramref name="exponent"/>, through the square root at ±½ so that
    /// the symmetric normalisation keeps its exact arithmetic.
    /// </summary>
    internal static float DegreePower(float degree, float exponent) => exponent switch
    {
        0.5f => MathF.Sqrt(degree),
        -0.5f => 1f / MathF.Sqrt(degree),
        _ => MathF.Pow(degree, exponent),
    };
}
