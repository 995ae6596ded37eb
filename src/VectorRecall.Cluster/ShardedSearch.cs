using VectorRecall.Serving;

namespace VectorRecall.Cluster;

/// <summary>
/// Answers a query from every shard of a shard set. Each shard is first asked for its likely share of the top k (a
/// Poisson bound: items fall into shards at random, so a shard's share of the best k is about Poisson(k / shards); see
/// <see cref="ShardLimit"/>), and the shards' best lists are merged into one, best first, ties broken by the lower item
/// row as a single index breaks them. A shard whose whole answer made it into the merged top k may hold more of it, so
/// it is asked again for the full k before the final merge: the result is what asking every shard for k would give,
/// and a set of exact (flat) shards returns exactly what one exact index over all items returns.
/// </summary>
public sealed class ShardedSearch(IGrainFactory grains, ShardSet set)
{
    /// <summary>The key extension of a shard's first replica.</summary>
    public const string ReplicaName = "r0";

    /// <summary>The chance that a shard holds more of the top k than it is first asked for (and is asked again).</summary>
    public const double MissRate = 1e-3;

    private long _queries, _fallbacks;

    public ShardSet Set => set;

    /// <summary>Whether shards are first asked for their Poisson share of k (true, the default) or for k itself.</summary>
    public bool PoissonBound { get; init; } = true;

    /// <summary>Queries answered, and shards asked a second time for the full k (how often the bound fell short).</summary>
    public (long Queries, long Fallbacks) Counts => (Interlocked.Read(ref _queries), Interlocked.Read(ref _fallbacks));

    /// <summary>The best <paramref name="k"/> items over all shards for <paramref name="vector"/>, leaving out <paramref name="excludedRows"/>.</summary>
    public async Task<ShardHits> SearchAsync(float[] vector, int k, int ef = 0, int[]? excludedRows = null)
    {
        ArgumentNullException.ThrowIfNull(vector);
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k), $"k must be at least 1, got {k}");
        Interlocked.Increment(ref _queries);
        int limit = PoissonBound ? ShardLimit(k, set.Shards) : k;
        var first = new ShardQuery(vector, limit, ef, excludedRows);
        var answers = await Task.WhenAll(Enumerable.Range(0, set.Shards).Select(s => Shard(s).Search(first)));
        var merged = Merge(answers, k);
        if (limit == k) return merged;
        var again = Enumerable.Range(0, set.Shards).Where(s => MayHoldMore(answers[s], limit, merged, k)).ToArray();
        if (again.Length == 0) return merged;
        Interlocked.Add(ref _fallbacks, again.Length);
        var full = first with { K = k };
        var more = await Task.WhenAll(again.Select(s => Shard(s).Search(full)));
        for (int i = 0; i < again.Length; i++) answers[again[i]] = more[i];
        return Merge(answers, k);
    }

    private IShardGrain Shard(int shard) => grains.GetGrain<IShardGrain>(shard, ReplicaName);

    /// <summary>
    /// How many items to ask each of <paramref name="shards"/> shards for when the query wants <paramref name="k"/>: the
    /// smallest m with P(X ≤ m) ≥ 1 − <see cref="MissRate"/> for X ~ Poisson(k / shards) (a normal bound past λ = 500,
    /// where e^−λ underflows), at most k. One shard is asked for k.
    /// </summary>
    internal static int ShardLimit(int k, int shards)
    {
        if (shards <= 1) return k;
        double lambda = (double)k / shards;
        if (lambda > 500) return (int)Math.Min(k, Math.Ceiling(lambda + 3.1 * Math.Sqrt(lambda)));
        double logP = -lambda, cdf = Math.Exp(logP);
        int m = 0;
        while (cdf < 1 - MissRate && m < k)
        {
            m++;
            logP += Math.Log(lambda / m);
            cdf += Math.Exp(logP);
        }
        return Math.Max(1, m);
    }

    /// <summary>
    /// Whether a shard asked for <paramref name="limit"/> items may hold more of the merged top <paramref name="k"/>: it
    /// returned all it was asked for, and its worst item is in the merged top k (or the merge has fewer than k).
    /// </summary>
    internal static bool MayHoldMore(ShardHits answer, int limit, ShardHits merged, int k)
    {
        if (answer.Count < limit) return false;
        if (merged.Count < k) return true;
        return !Better(merged.Scores[^1], merged.Rows[^1], answer.Scores[^1], answer.Rows[^1]);
    }

    /// <summary>The best <paramref name="k"/> of the shards' lists (each best first): higher score first, then the lower row.</summary>
    internal static ShardHits Merge(IReadOnlyList<ShardHits> answers, int k)
    {
        int n = Math.Min(k, answers.Sum(a => a.Count));
        var best = new ShardHits(new long[n], new float[n]);
        Span<int> next = answers.Count <= 256 ? stackalloc int[answers.Count] : new int[answers.Count];
        next.Clear();
        for (int i = 0; i < n; i++)
        {
            // The best head of the lists; a handful of shards makes a scan cheaper than a heap.
            int pick = -1;
            for (int s = 0; s < answers.Count; s++)
                if (next[s] < answers[s].Count && (pick < 0 || Better(answers[s].Scores[next[s]], answers[s].Rows[next[s]], answers[pick].Scores[next[pick]], answers[pick].Rows[next[pick]])))
                    pick = s;
            best.Rows[i] = answers[pick].Rows[next[pick]];
            best.Scores[i] = answers[pick].Scores[next[pick]];
            next[pick]++;
        }
        return best;
    }

    private static bool Better(float s1, long row1, float s2, long row2) => s1 > s2 || (s1 == s2 && row1 < row2);
}
