using VectorRecall.Data;
using VectorRecall.Indexing;
using VectorRecall.Numerics;

namespace VectorRecall.Retrieval;

/// <summary>
/// The popularity floor: every user gets the items with the most training interactions, best first, equal counts by the
/// lower item id (as exact search breaks ties), leaving out what each query's filter refuses. The ranking is computed
/// once, so a user costs a walk down it rather than a pass over every item; the query vectors are ignored (width 1:
/// <see cref="Queries"/>).
/// </summary>
public sealed class PopularityRetriever : IRetriever
{
    private readonly int[] _ranked;
    private readonly float[] _counts;

    public PopularityRetriever(UserItemLists train, int itemCount)
    {
        var counts = train.ItemCounts(itemCount);
        _counts = counts.Select(c => (float)c).ToArray();
        _ranked = Enumerable.Range(0, itemCount).OrderByDescending(i => counts[i]).ThenBy(i => i).ToArray();
    }

    public string Name => "popularity";
    public int Dimension => 1;
    public int ItemCount => _ranked.Length;

    /// <summary>Query rows for <paramref name="users"/> users (their content is not read).</summary>
    public static Tensor Queries(int users) => Tensor.Full(1f, users, 1);

    public int Search(ReadOnlySpan<float> query, int k, Span<long> ids, Span<float> scores, SearchOptions? options = null)
    {
        VectorChecks.Query(query, Dimension, k);
        var filter = options?.Filter;
        int found = 0;
        for (int r = 0; r < _ranked.Length && found < k; r++)
        {
            int item = _ranked[r];
            if (filter is not null && !filter.Allows(item)) continue;
            ids[found] = item;
            scores[found++] = _counts[item];
        }
        return found;
    }

    public void SearchBatch(ReadOnlySpan<float> queries, int k, Span<long> ids, Span<float> scores, Span<int> counts, IReadOnlyList<SearchOptions?>? options = null)
    {
        int nq = VectorChecks.BatchCount(queries, Dimension, k, ids.Length, scores.Length, counts.Length);
        VectorChecks.Options(options, nq);
        for (int q = 0; q < nq; q++)
        {
            int found = Search(queries.Slice(q, 1), k, ids.Slice(q * k, k), scores.Slice(q * k, k), options?[q]);
            ids.Slice(q * k + found, k - found).Fill(-1);
            scores.Slice(q * k + found, k - found).Fill(float.NaN);
            counts[q] = found;
        }
    }

    public void Dispose() { }
}
