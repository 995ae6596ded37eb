using VectorRecall.Numerics;
using VectorRecall.Serving;

namespace VectorRecall.Cluster;

/// <summary>
/// Answers a query from every shard of a shard set. Each shard is first asked for its likely share of the top k (a
/// Poisson bound: items fall into shards at random, so a shard's share of the best k is about Poisson(k / shards); see
/// <see cref="ShardLimit"/>), and the shards' best lists are merged into one, best first, ties broken by the lower item
/// row as a single index breaks them. A shard whose whole answer made it into the merged top k may hold more of it, so
/// it is asked again for the full k before the final merge: the result is what asking every shard for k would give,
/// and a set of exact (flat) shards returns exactly what one exact index over all items returns.
/// A shard has <see cref="Replicas"/> replicas (grains on distinct silos); queries take turns among them, and a replica
/// that fails or does not answer within <see cref="ReplicaDeadline"/> is replaced by the next, round after round for up
/// to 2 × Replicas × ReplicaDeadline. When none answers in that time, the search throws <see cref="ShardUnavailableException"/>, or with <c>allowPartial</c> answers from
/// the other shards and names the missing one.
/// </summary>
public sealed class ShardedSearch(IGrainFactory grains, ShardSet set)
{
    /// <summary>The chance that a shard holds more of the top k than it is first asked for (and is asked again).</summary>
    public const double MissRate = 1e-3;

    private long _queries, _fallbacks, _failovers;
    // Per shard: requests, replicas given up on, requests no replica answered, and the ticks spent waiting for answers.
    private readonly long[] _shardRequests = new long[set.Shards], _shardFailovers = new long[set.Shards], _shardUnavailable = new long[set.Shards], _shardTicks = new long[set.Shards];

    public ShardSet Set => set;

    /// <summary>Whether shards are first asked for their Poisson share of k (true, the default) or for k itself.</summary>
    public bool PoissonBound { get; init; } = true;

    /// <summary>Replicas of each shard the cluster runs (keys <see cref="ReplicaName"/>(0 .. Replicas − 1)).</summary>
    public int Replicas { get; init; } = 1;

    /// <summary>How long one replica may take before the next is asked (a shard is given up after 2 × Replicas × this).</summary>
    public TimeSpan ReplicaDeadline { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Queries answered, shards asked a second time for the full k (how often the bound fell short), and replicas given up on.</summary>
    public (long Queries, long Fallbacks, long Failovers) Counts => (Interlocked.Read(ref _queries), Interlocked.Read(ref _fallbacks), Interlocked.Read(ref _failovers));

    /// <summary>Every replica's grain reference, made once: a reference names a grain and outlives its activations, and making one per call cost a key string and a type lookup each time.</summary>
    private IShardGrain[]? _references;

    private IShardGrain Replica(int shard, int replica)
    {
        var references = Volatile.Read(ref _references);
        if (references is null)
        {
            references = new IShardGrain[set.Shards * Replicas];
            for (int s = 0; s < set.Shards; s++)
                for (int r = 0; r < Replicas; r++) references[s * Replicas + r] = grains.GetGrain<IShardGrain>(s, ReplicaName(r));
            Volatile.Write(ref _references, references);   // a race makes two equal tables; either serves
        }
        return references[shard * Replicas + replica];
    }

    /// <summary>The grain key extension of replica <paramref name="replica"/>.</summary>
    public static string ReplicaName(int replica) => $"r{replica}";

    /// <summary>The replica number a key extension names (0 for none or a malformed one).</summary>
    internal static int ReplicaOf(string? extension) =>
        extension is ['r', .. var digits] && int.TryParse(digits, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int r) ? r : 0;

    /// <summary>
    /// The best <paramref name="k"/> items over all shards for <paramref name="vector"/>, leaving out <paramref name="excludedRows"/>.
    /// With <paramref name="allowPartial"/>, shards without a live replica are left out and named instead of failing the search.
    /// <paramref name="ef"/> is each shard's search width (0: the shard index's own), <paramref name="patience"/> its HNSW walk's patience (0: none).
    /// </summary>
    public async Task<ClusterRecall> SearchAsync(float[] vector, int k, int ef = 0, int[]? excludedRows = null, bool allowPartial = false, int patience = 0)
    {
        ArgumentNullException.ThrowIfNull(vector);
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k), $"k must be at least 1, got {k}");
        if (Replicas < 1) throw new InvalidOperationException($"Replicas must be at least 1, got {Replicas}");
        long number = Interlocked.Increment(ref _queries);
        int limit = PoissonBound ? ShardLimit(k, set.Shards) : k;
        var first = new ShardQuery(vector, limit, ef, excludedRows, patience);
        var missing = new bool[set.Shards];
        var answers = await Task.WhenAll(Enumerable.Range(0, set.Shards).Select(s => Ask(s, first, number, allowPartial, missing)));
        var merged = Merge(answers, k);
        if (limit < k)
        {
            var again = Enumerable.Range(0, set.Shards).Where(s => !missing[s] && MayHoldMore(answers[s], limit, merged, k)).ToArray();
            if (again.Length > 0)
            {
                Interlocked.Add(ref _fallbacks, again.Length);
                var full = first with { K = k };
                var more = await Task.WhenAll(again.Select(s => Ask(s, full, number, allowPartial, missing)));
                for (int i = 0; i < again.Length; i++) answers[again[i]] = more[i];
                merged = Merge(answers, k);
            }
        }
        return new ClusterRecall(merged.Rows, merged.Scores, Enumerable.Range(0, set.Shards).Where(s => missing[s]).ToArray(), merged.Keys);
    }

    /// <summary>
    /// One shard's answer from its replicas in turn, starting from the query's own (queries rotate over them): a replica
    /// that throws (other than refusing the query) or misses its deadline hands over to the next.
    /// </summary>
    private async Task<ShardHits> Ask(int shard, ShardQuery query, long number, bool allowPartial, bool[] missing)
    {
        Exception? last = null;
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        Interlocked.Increment(ref _shardRequests[shard]);
        try
        {
            // Round after round over the replicas until the budget is spent: while the cluster settles after a node's
            // death (its directory entries move, a stopping silo rejects at once), a live replica can miss a turn too.
            var budget = 2 * Replicas * ReplicaDeadline;
            for (int i = 0; i == 0 || System.Diagnostics.Stopwatch.GetElapsedTime(start) < budget; i++)
            {
                if (i > 0 && i % Replicas == 0) await Task.Delay(RetryPause);
                int replica = (int)((number + shard + i) % Replicas);
                try
                {
                    return await Replica(shard, replica).Search(query).WaitAsync(ReplicaDeadline);
                }
                catch (Exception e) when (e is not ArgumentException)
                {
                    last = e;
                    Interlocked.Increment(ref _failovers);
                    Interlocked.Increment(ref _shardFailovers[shard]);
                }
            }
        }
        finally { Interlocked.Add(ref _shardTicks[shard], System.Diagnostics.Stopwatch.GetTimestamp() - start); }
        Interlocked.Increment(ref _shardUnavailable[shard]);
        if (!allowPartial) throw new ShardUnavailableException(shard, Replicas, last);
        missing[shard] = true;
        return ShardHits.Empty;
    }

    /// <summary>The pause after a round in which every replica of a shard failed, before the next round.</summary>
    private static readonly TimeSpan RetryPause = TimeSpan.FromMilliseconds(50);

    /// <summary>The per-shard counters in the Prometheus text format (see <see cref="ShardedRetriever"/>, which serves them on /metrics).</summary>
    internal void AppendMetrics(System.Text.StringBuilder s)
    {
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        var (queries, fallbacks, _) = Counts;
        s.Append(inv, $"# HELP vrecall_cluster_queries_total Queries answered from the shards.\n# TYPE vrecall_cluster_queries_total counter\nvrecall_cluster_queries_total {queries}\n");
        s.Append(inv, $"# HELP vrecall_cluster_second_rounds_total Shards asked again for the full k (the Poisson bound fell short).\n# TYPE vrecall_cluster_second_rounds_total counter\nvrecall_cluster_second_rounds_total {fallbacks}\n");
        Series(s, "vrecall_shard_requests_total", "counter", "Requests sent to each shard.", _shardRequests, 1);
        Series(s, "vrecall_shard_failovers_total", "counter", "Replicas of each shard given up on (failed or past the deadline).", _shardFailovers, 1);
        Series(s, "vrecall_shard_unavailable_total", "counter", "Requests no replica of the shard answered.", _shardUnavailable, 1);
        Series(s, "vrecall_shard_wait_seconds_total", "counter", "Time spent waiting for each shard's answers.", _shardTicks, 1.0 / System.Diagnostics.Stopwatch.Frequency);
    }

    private static void Series(System.Text.StringBuilder s, string name, string type, string help, long[] values, double scale)
    {
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        s.Append(inv, $"# HELP {name} {help}\n# TYPE {name} {type}\n");
        for (int shard = 0; shard < values.Length; shard++) s.Append(inv, $"{name}{{shard=\"{shard}\"}} {Interlocked.Read(ref values[shard]) * scale:G9}\n");
    }

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
        return !TopK.Better(merged.Scores[^1], merged.Rows[^1], answer.Scores[^1], answer.Rows[^1]);
    }

    /// <summary>The best <paramref name="k"/> of the shards' lists (each best first): higher score first, then the lower row; live items keep their ids.</summary>
    internal static ShardHits Merge(IReadOnlyList<ShardHits> answers, int k)
    {
        int n = Math.Min(k, answers.Sum(a => a.Count));
        var best = new ShardHits(new long[n], new float[n], answers.Any(a => a.Keys is not null) ? new string?[n] : null);
        Span<int> next = answers.Count <= 256 ? stackalloc int[answers.Count] : new int[answers.Count];
        next.Clear();
        for (int i = 0; i < n; i++)
        {
            // The best head of the lists; a handful of shards makes a scan cheaper than a heap.
            int pick = -1;
            for (int s = 0; s < answers.Count; s++)
                if (next[s] < answers[s].Count && (pick < 0 || TopK.Better(answers[s].Scores[next[s]], answers[s].Rows[next[s]], answers[pick].Scores[next[pick]], answers[pick].Rows[next[pick]])))
                    pick = s;
            var from = answers[pick];
            best.Rows[i] = from.Rows[next[pick]];
            best.Scores[i] = from.Scores[next[pick]];
            if (best.Keys is not null) best.Keys[i] = from.Keys?[next[pick]];
            next[pick]++;
        }
        return best;
    }
}
