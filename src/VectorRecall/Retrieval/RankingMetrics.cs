namespace VectorRecall.Retrieval;

/// <summary>The ranking metrics, with RecBole's definitions.</summary>
public enum RankingMetric { Hit, Recall, Ndcg, Precision, Mrr }

/// <summary>How reports name the metrics: one short key (<c>recall</c>, as in <c>recall@20</c>) and one label (<c>Recall</c>) each.</summary>
public static class RankingMetricNames
{
    /// <summary>Every metric, in the order reports list them.</summary>
    public static readonly RankingMetric[] All = [RankingMetric.Hit, RankingMetric.Recall, RankingMetric.Ndcg, RankingMetric.Precision, RankingMetric.Mrr];

    public static string Key(this RankingMetric metric) => metric switch
    {
        RankingMetric.Hit => "hr",
        RankingMetric.Recall => "recall",
        RankingMetric.Ndcg => "ndcg",
        RankingMetric.Precision => "precision",
        _ => "mrr",
    };

    public static string Label(this RankingMetric metric) => metric switch
    {
        RankingMetric.Hit => "HR",
        RankingMetric.Recall => "Recall",
        RankingMetric.Ndcg => "NDCG",
        RankingMetric.Precision => "Precision",
        _ => "MRR",
    };
}

/// <summary>
/// Accumulates ranking metrics over users, at several cut-offs K: Hit@K (any relevant item in the
/// top K), Recall@K (hits / relevant), Precision@K (hits / K), NDCG@K (binary gains 1/log2(rank+1),
/// ideal DCG over min(relevant, K)) and MRR@K (1 / rank of the first hit). Each user counts once;
/// users with nothing relevant are skipped.
/// </summary>
public sealed class RankingMetrics
{
    private readonly double[,] _sums;

    public RankingMetrics(IReadOnlyList<int> ks)
    {
        if (ks.Count == 0 || ks.Any(k => k < 1)) throw new ArgumentException($"cut-offs must be positive, got [{string.Join(", ", ks)}]");
        Ks = ks.Order().ToArray();
        _sums = new double[Enum.GetValues<RankingMetric>().Length, Ks.Length];
    }

    public int[] Ks { get; }
    public int Users { get; private set; }
    public int MaxK => Ks[^1];

    /// <summary>One user's Recall over all of <paramref name="ranked"/> (its K is the list's length): the share of <paramref name="relevant"/> in it.</summary>
    internal static double RecallOf(ReadOnlySpan<long> ranked, IReadOnlySet<int> relevant)
    {
        int hits = 0;
        foreach (long item in ranked) if (item >= 0 && relevant.Contains((int)item)) hits++;
        return (double)hits / relevant.Count;
    }

    /// <summary>Adds one user's ranking (best first, at least <see cref="MaxK"/> long unless fewer items exist) against its relevant items.</summary>
    public void Add(ReadOnlySpan<long> ranked, IReadOnlySet<int> relevant)
    {
        if (relevant.Count == 0) return;
        Span<double> hits = stackalloc double[Ks.Length];
        Span<double> dcg = stackalloc double[Ks.Length];
        Span<double> rr = stackalloc double[Ks.Length];
        int found = 0, firstHit = 0;
        for (int rank = 1; rank <= Math.Min(ranked.Length, MaxK); rank++)
        {
            if (ranked[rank - 1] < 0 || !relevant.Contains((int)ranked[rank - 1])) continue;
            found++;
            if (firstHit == 0) firstHit = rank;
            double gain = 1.0 / Math.Log2(rank + 1);
            for (int k = 0; k < Ks.Length; k++)
                if (rank <= Ks[k]) { hits[k]++; dcg[k] += gain; }
        }
        for (int k = 0; k < Ks.Length; k++)
        {
            double ideal = 0;
            for (int r = 1; r <= Math.Min(relevant.Count, Ks[k]); r++) ideal += 1.0 / Math.Log2(r + 1);
            _sums[(int)RankingMetric.Hit, k] += hits[k] > 0 ? 1 : 0;
            _sums[(int)RankingMetric.Recall, k] += hits[k] / relevant.Count;
            _sums[(int)RankingMetric.Precision, k] += hits[k] / Ks[k];
            _sums[(int)RankingMetric.Ndcg, k] += dcg[k] / ideal;
            _sums[(int)RankingMetric.Mrr, k] += firstHit > 0 && firstHit <= Ks[k] ? 1.0 / firstHit : 0;
        }
        Users++;
    }

    /// <summary>The mean of <paramref name="metric"/>@<paramref name="k"/> over the users added.</summary>
    public double Get(RankingMetric metric, int k)
    {
        int at = Array.IndexOf(Ks, k);
        if (at < 0) throw new ArgumentException($"K = {k} was not one of the cut-offs [{string.Join(", ", Ks)}]");
        return Users == 0 ? 0 : _sums[(int)metric, at] / Users;
    }

    /// <summary>Folds another accumulator with the same cut-offs into this one (for parallel evaluation).</summary>
    public void Merge(RankingMetrics other)
    {
        if (!other.Ks.SequenceEqual(Ks)) throw new ArgumentException("cannot merge metrics with different cut-offs");
        for (int m = 0; m < _sums.GetLength(0); m++)
            for (int k = 0; k < Ks.Length; k++) _sums[m, k] += other._sums[m, k];
        Users += other.Users;
    }
}
