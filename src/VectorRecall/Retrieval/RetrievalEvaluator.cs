using VectorRecall.Data;
using VectorRecall.Indexing;
using VectorRecall.Numerics;

namespace VectorRecall.Retrieval;

/// <summary>A batch top-k search (the shape of <see cref="IVectorIndex.SearchBatch(ReadOnlySpan{float}, int, Span{long}, Span{float}, Span{int})"/>), so that anything that ranks items can be evaluated.</summary>
public delegate void BatchSearch(ReadOnlySpan<float> queries, int k, Span<long> ids, Span<float> scores, Span<int> counts);

/// <summary>
/// A batch top-k search for known users (row r of the queries is <c>users[r]</c>) that itself leaves out
/// each user's excluded items, as tree beam search does; it returns the best k of what remains.
/// </summary>
public delegate void UserBatchSearch(ReadOnlySpan<float> queries, ReadOnlySpan<int> users, int k, Span<long> ids, Span<float> scores, Span<int> counts);

/// <summary>Metrics of one evaluation, the time spent in top-k search alone, and the time of the whole evaluation.</summary>
public sealed record EvaluationResult(RankingMetrics Metrics, double SearchSeconds, double TotalSeconds);

/// <summary>
/// Scores retrieval through any <see cref="IVectorIndex"/> (a <see cref="FlatIndex"/> for exact
/// search): each user's query vector retrieves its top K plus as many as it has excluded items, the
/// excluded ones (what the user already had) are dropped, and the rest is ranked against the user's
/// held-out items.
/// </summary>
public static class RetrievalEvaluator
{
    /// <summary>
    /// Metrics at <paramref name="ks"/> for <paramref name="users"/>, whose query vectors are the rows of
    /// <paramref name="queries"/>; the truth is each user's list in <paramref name="relevant"/>, and the
    /// items in <paramref name="exclude"/> (when given) are left out of the ranking.
    /// </summary>
    public static RankingMetrics Evaluate(IVectorIndex index, Tensor queries, IReadOnlyList<int> users, UserItemLists relevant,
        UserItemLists? exclude, IReadOnlyList<int> ks, int chunk = 1024, IProgress<int>? progress = null, CancellationToken cancel = default) =>
        Evaluate(index.SearchBatch, index.Count, queries, users, relevant, exclude, ks, chunk, progress, cancel).Metrics;

    /// <summary>As above through any <see cref="BatchSearch"/> over <paramref name="itemCount"/> items, timed.</summary>
    public static EvaluationResult Evaluate(BatchSearch search, int itemCount, Tensor queries, IReadOnlyList<int> users, UserItemLists relevant,
        UserItemLists? exclude, IReadOnlyList<int> ks, int chunk = 1024, IProgress<int>? progress = null, CancellationToken cancel = default) =>
        Evaluate((q, _, k, ids, scores, counts) => search(q, k, ids, scores, counts), searchExcludes: false, itemCount, queries, users, relevant, exclude, ks, chunk, progress, cancel);

    /// <summary>As above through a search that leaves out the excluded items itself, so it is asked for K alone.</summary>
    public static EvaluationResult Evaluate(UserBatchSearch search, int itemCount, Tensor queries, IReadOnlyList<int> users, UserItemLists relevant,
        UserItemLists? exclude, IReadOnlyList<int> ks, int chunk = 1024, IProgress<int>? progress = null, CancellationToken cancel = default) =>
        Evaluate(search, searchExcludes: true, itemCount, queries, users, relevant, exclude, ks, chunk, progress, cancel);

    private static EvaluationResult Evaluate(UserBatchSearch search, bool searchExcludes, int itemCount, Tensor queries, IReadOnlyList<int> users, UserItemLists relevant,
        UserItemLists? exclude, IReadOnlyList<int> ks, int chunk, IProgress<int>? progress, CancellationToken cancel)
    {
        var total = System.Diagnostics.Stopwatch.StartNew();
        double searchSeconds = 0;
        if (queries.Rows != users.Count) throw new ArgumentException($"{queries.Rows} query vectors for {users.Count} users");
        var metrics = new RankingMetrics(ks);
        int maxK = metrics.MaxK;
        var chunkUsers = new int[Math.Min(chunk, users.Count)];
        for (int start = 0; start < users.Count; start += chunk)
        {
            cancel.ThrowIfCancellationRequested();
            int n = Math.Min(chunk, users.Count - start), extra = 0;
            for (int r = 0; r < n; r++) chunkUsers[r] = users[start + r];
            if (exclude is not null && !searchExcludes)
                for (int r = 0; r < n; r++) extra = Math.Max(extra, exclude.CountOf(users[start + r]));
            int k = Math.Min(maxK + extra, itemCount);
            var ids = new long[n * k];
            var scores = new float[n * k];
            var counts = new int[n];
            long searchStart = System.Diagnostics.Stopwatch.GetTimestamp();
            search(queries.RowRange(start, n).Span, chunkUsers.AsSpan(0, n), k, ids, scores, counts);
            searchSeconds += System.Diagnostics.Stopwatch.GetElapsedTime(searchStart).TotalSeconds;
            var ranked = new long[maxK];
            for (int r = 0; r < n; r++)
            {
                int u = users[start + r];
                var skip = exclude is null ? [] : exclude.Of(u);
                int kept = 0;
                foreach (long id in ids.AsSpan(r * k, counts[r]))
                {
                    if (kept == maxK) break;
                    if (skip.Contains((int)id)) continue;
                    ranked[kept++] = id;
                }
                metrics.Add(ranked.AsSpan(0, kept), new HashSet<int>(relevant.Of(u).ToArray()));
            }
            progress?.Report(start + n);
        }
        return new EvaluationResult(metrics, searchSeconds, total.Elapsed.TotalSeconds);
    }

    /// <summary>ANN recall@k: the mean share of the exact top k that the approximate index also returns.</summary>
    public static double AnnRecall(IVectorIndex approximate, IVectorIndex exact, Tensor queries, int k)
    {
        int n = queries.Rows;
        if (n == 0) return double.NaN;
        var exactIds = new long[n * k]; var approxIds = new long[n * k];
        var scores = new float[n * k]; var exactCounts = new int[n]; var approxCounts = new int[n];
        exact.SearchBatch(queries.Span, k, exactIds, scores, exactCounts);
        approximate.SearchBatch(queries.Span, k, approxIds, scores, approxCounts);
        double sum = 0;
        for (int q = 0; q < n; q++)
        {
            var truth = new HashSet<long>(exactIds.AsSpan(q * k, exactCounts[q]).ToArray());
            int hit = 0;
            foreach (long id in approxIds.AsSpan(q * k, approxCounts[q])) if (truth.Contains(id)) hit++;
            sum += truth.Count == 0 ? 1 : (double)hit / truth.Count;
        }
        return sum / n;
    }
}
