using VectorRecall.Indexing;
using VectorRecall.Numerics;

namespace VectorRecall.Retrieval;

/// <summary>
/// The naive baseline the design note's timing tables call "numpy": every item scored by a plain
/// scalar loop, one query at a time on one core, then the top k. It gives the same ranking as exact
/// search and shows what the SIMD GEMM and the graph index save.
/// </summary>
public sealed class NaiveSearch(Tensor items) : IRetriever
{
    public string Name => "scalar";
    public int Dimension => items.Cols;
    public int ItemCount => items.Rows;

    public int Search(ReadOnlySpan<float> query, int k, Span<long> ids, Span<float> scores, SearchOptions? options = null)
    {
        int d = items.Cols, n = items.Rows;
        var data = items.Span;
        var filter = options?.Filter;
        var heap = new TopK(Math.Min(k, n), ids, scores);
        for (int i = 0; i < n; i++)
        {
            float s = 0;
            for (int j = 0; j < d; j++) s += query[j] * data[i * d + j];
            if (filter is null || filter.Allows(i)) heap.Push(i, s);
        }
        return heap.SortBestFirst();
    }

    public void SearchBatch(ReadOnlySpan<float> queries, int k, Span<long> ids, Span<float> scores, Span<int> counts, IReadOnlyList<SearchOptions?>? options = null)
    {
        for (int q = 0; q < counts.Length; q++)
        {
            int found = counts[q] = Search(queries.Slice(q * Dimension, Dimension), k, ids.Slice(q * k, k), scores.Slice(q * k, k), options?[q]);
            ids.Slice(q * k + found, k - found).Fill(-1);
            scores.Slice(q * k + found, k - found).Fill(float.NaN);
        }
    }

    public void Dispose() { }
}
