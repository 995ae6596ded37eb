using VectorRecall.Numerics;

namespace VectorRecall.Retrieval;

/// <summary>
/// The naive baseline the design note's timing tables call "numpy": every item scored by a plain
/// scalar loop, one query at a time on one core, then the top k. It gives the same ranking as exact
/// search and shows what the SIMD GEMM and the graph index save.
/// </summary>
public static class NaiveSearch
{
    public static BatchSearch Over(Tensor items) => (queries, k, ids, scores, counts) =>
    {
        int d = items.Cols, n = items.Rows, nq = queries.Length / d;
        var all = new float[n];
        var data = items.Span;
        for (int q = 0; q < nq; q++)
        {
            var query = queries.Slice(q * d, d);
            for (int i = 0; i < n; i++)
            {
                float s = 0;
                for (int j = 0; j < d; j++) s += query[j] * data[i * d + j];
                all[i] = s;
            }
            counts[q] = TopK.Select(all, k, ids.Slice(q * k, k), scores.Slice(q * k, k));
        }
    };
}
