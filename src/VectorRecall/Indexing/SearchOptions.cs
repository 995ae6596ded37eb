namespace VectorRecall.Indexing;

/// <summary>
/// One search's parameters (faiss's <c>SearchParameters</c>, hnswlib's per-call <c>filter</c>): the
/// width of the search and which ids may be returned. Null, or a field left at its default, means
/// the index's own setting.
/// </summary>
public sealed record SearchOptions
{
    /// <summary>Candidate list size of a graph search (HNSW's ef), the beam of a tree search; 0: the index's default. At least k is used.</summary>
    public int Ef { get; init; }

    /// <summary>
    /// HNSW: stop the walk once this many node expansions in a row have not changed its best k (0: off; the walk then ends
    /// as the paper's does, when no candidate is nearer than the ef-th result). Early termination by patience (Teofili and
    /// Lin, ECIR 2025): a query whose neighbours lie close together stops long before ef is spent, one whose neighbours
    /// are scattered runs on to the ef bound, so a wide ef costs less at the median. Raise ef with it. RaBitQ storage ignores it.
    /// </summary>
    public int Patience { get; init; }

    /// <summary>Which ids may be returned (null: all); asked where results are collected, so refused items cost no over-fetch.</summary>
    public IIdFilter? Filter { get; init; }

    /// <summary>
    /// Null: a retriever with a part down (a shard cluster) fails the search. Given: it answers from the parts that are up
    /// and names the missing ones there. An index has no parts and leaves it alone.
    /// </summary>
    public PartialAnswer? Partial { get; init; }

    /// <summary>Options with this filter and width; null when neither is set (the index's defaults).</summary>
    public static SearchOptions? Of(IIdFilter? filter, int ef) => filter is null && ef <= 0 ? null : new SearchOptions { Filter = filter, Ef = Math.Max(0, ef) };

    /// <summary>As <see cref="Of(IIdFilter?, int)"/>, taking a partial answer where <paramref name="partial"/> is given and this <paramref name="patience"/>.</summary>
    public static SearchOptions? Of(IIdFilter? filter, int ef, PartialAnswer? partial, int patience = 0) =>
        partial is null && patience <= 0 ? Of(filter, ef) : new SearchOptions { Filter = filter, Ef = Math.Max(0, ef), Partial = partial, Patience = Math.Max(0, patience) };
}
