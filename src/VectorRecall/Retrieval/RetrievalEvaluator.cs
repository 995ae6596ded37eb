using System.Diagnostics;
using VectorRecall.Data;
using VectorRecall.Indexing;
using VectorRecall.Numerics;

namespace VectorRecall.Retrieval;

/// <summary>Metrics of one evaluation, the time spent in top-k search alone, and the time of the whole evaluation.</summary>
public sealed record EvaluationResult(RankingMetrics Metrics, double SearchSeconds, double TotalSeconds);

/// <summary>
/// Scores retrieval through any <see cref="IRetriever"/>: each user's query vector retrieves its top K
/// with the user's excluded items (what it already had) refused inside the search, and the result is
/// ranked against the user's held-out items.
/// </summary>
public static class RetrievalEvaluator
{
    /// <summary>
    /// Metrics at <paramref name="ks"/> for <paramref name="users"/>, whose query vectors are the rows of
    /// <paramref name="queries"/>; the truth is each user's list in <paramref name="relevant"/>, and the
    /// items in <paramref name="exclude"/> (when given) are left out of the ranking. <paramref name="width"/>
    /// (&gt; 0) is every search's <see cref="SearchOptions.Ef"/>.
    /// </summary>
    public static EvaluationResult Evaluate(IRetriever retriever, Tensor queries, IReadOnlyList<int> users, UserItemLists relevant,
        UserItemLists? exclude, IReadOnlyList<int> ks, int width = 0, int chunk = 1024, IProgress<int>? progress = null, CancellationToken cancel = default)
    {
        var total = Stopwatch.StartNew();
        var metrics = new RankingMetrics(ks);
        double searchSeconds = Rank(retriever, queries, users, exclude, metrics.MaxK, width, chunk, (user, ranked) =>
        {
            metrics.Add(ranked, new HashSet<int>(relevant.Of(user).ToArray()));
        }, progress, cancel);
        return new EvaluationResult(metrics, searchSeconds, total.Elapsed.TotalSeconds);
    }

    /// <summary>Receives one user's ranking (item rows, best first).</summary>
    public delegate void RankedHandler(int user, ReadOnlySpan<long> ranked);

    /// <summary>
    /// The ranking evaluation scores: each user's top <paramref name="k"/> with its <paramref name="exclude"/>
    /// items refused inside the search, handed to <paramref name="ranked"/> in user order, <paramref name="chunk"/>
    /// users per batch search. Returns the seconds spent in search.
    /// </summary>
    public static double Rank(IRetriever retriever, Tensor queries, IReadOnlyList<int> users, UserItemLists? exclude, int k, int width, int chunk,
        RankedHandler ranked, IProgress<int>? progress = null, CancellationToken cancel = default)
    {
        if (queries.Rows != users.Count) throw new ArgumentException($"{queries.Rows} query vectors for {users.Count} users");
        k = Math.Min(k, retriever.ItemCount);
        double searchSeconds = 0;
        for (int start = 0; start < users.Count; start += chunk)
        {
            cancel.ThrowIfCancellationRequested();
            int n = Math.Min(chunk, users.Count - start);
            var options = new SearchOptions?[n];
            for (int r = 0; r < n; r++) options[r] = OptionsFor(exclude, users[start + r], width);
            var ids = new long[n * k];
            var scores = new float[n * k];
            var counts = new int[n];
            long searchStart = Stopwatch.GetTimestamp();
            retriever.SearchBatch(queries.RowRange(start, n).Span, k, ids, scores, counts, options);
            searchSeconds += Stopwatch.GetElapsedTime(searchStart).TotalSeconds;
            for (int r = 0; r < n; r++) ranked(users[start + r], ids.AsSpan(r * k, counts[r]));
            progress?.Report(start + n);
        }
        return searchSeconds;
    }

    /// <summary>A user's search options: its excluded items as a filter, and the width.</summary>
    private static SearchOptions? OptionsFor(UserItemLists? exclude, int user, int width) =>
        SearchOptions.Of(exclude is null ? null : ExcludedIds.Of(exclude.Of(user)), width);

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
