namespace VectorRecall.Indexing;

/// <summary>
/// A searchable set of vectors with the caller's 64-bit ids, in the spirit of faiss's <c>Index</c>.
/// Results come best first: highest inner product or cosine, smallest squared L2 distance. A search
/// asking for more than the index holds returns what there is. Implementations are safe for
/// concurrent searches; whether adds may run beside searches is stated by each.
/// </summary>
public interface IVectorIndex : IDisposable
{
    int Dimension { get; }
    Metric Metric { get; }

    /// <summary>Vectors searchable now (removed ones excluded).</summary>
    int Count { get; }

    /// <summary>Adds <c>ids.Length</c> vectors stored row after row in <paramref name="vectors"/>. Ids must be new.</summary>
    void Add(ReadOnlySpan<long> ids, ReadOnlySpan<float> vectors);

    /// <summary>
    /// The <paramref name="k"/> nearest to <paramref name="query"/>, best first, into the first
    /// entries of <paramref name="ids"/> and <paramref name="scores"/> (each at least k long); returns how many.
    /// <paramref name="options"/> sets this call's width and filter.
    /// </summary>
    int Search(ReadOnlySpan<float> query, int k, Span<long> ids, Span<float> scores, SearchOptions? options = null);

    /// <summary>
    /// Searches every row of <paramref name="queries"/> on all cores. Row q's results go to
    /// <c>ids[q·k ..]</c> and <c>scores[q·k ..]</c>; its count to <c>counts[q]</c> (slots past it hold −1 and NaN);
    /// its options are <c>options[q]</c> (a null list or entry: the defaults).
    /// </summary>
    void SearchBatch(ReadOnlySpan<float> queries, int k, Span<long> ids, Span<float> scores, Span<int> counts, IReadOnlyList<SearchOptions?>? options = null);

    /// <summary>Removes the vector with this id; it never appears in results again.</summary>
    void Remove(long id);

    bool Contains(long id);

    /// <summary>Writes the index to <paramref name="path"/> atomically.</summary>
    void Save(string path);
}
