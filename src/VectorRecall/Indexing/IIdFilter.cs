namespace VectorRecall.Indexing;

/// <summary>
/// Which ids a search may return (hnswlib's filter functor, faiss's <c>IDSelector</c>). It is asked
/// where results are collected: a graph search still walks through refused items, so leaving items
/// out costs no over-fetch and never disconnects the walk.
/// </summary>
public interface IIdFilter
{
    bool Allows(long id);
}

/// <summary>Refuses a set of ids (a user's already-seen items): one hash lookup per candidate.</summary>
public sealed class ExcludedIds(int capacity = 0) : IIdFilter
{
    private readonly HashSet<long> _excluded = new(capacity);

    public int Count => _excluded.Count;

    /// <summary>A filter refusing every id in <paramref name="ids"/> and <paramref name="more"/>; null when both are empty (nothing to refuse).</summary>
    public static ExcludedIds? Of(ReadOnlySpan<int> ids, ReadOnlySpan<int> more = default)
    {
        if (ids.IsEmpty && more.IsEmpty) return null;
        var excluded = new ExcludedIds(ids.Length + more.Length);
        foreach (int id in ids) excluded.Add(id);
        foreach (int id in more) excluded.Add(id);
        return excluded;
    }
    public void Add(long id) => _excluded.Add(id);

    /// <summary>The refused ids (for a search that ships its filter to other processes).</summary>
    public IReadOnlyCollection<long> Ids => _excluded;
    public bool Allows(long id) => !_excluded.Contains(id);
}
