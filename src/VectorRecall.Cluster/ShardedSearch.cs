using VectorRecall.Serving;

namespace VectorRecall.Cluster;

/// <summary>
/// Answers a query from every shard of a shard set: the query goes to each shard's grain at once and the shards' best
/// lists are merged into one, best first, ties broken by the lower item row as a single index breaks them, so a set of
/// exact (flat) shards returns exactly what one exact index over all items returns.
/// </summary>
public sealed class ShardedSearch(IGrainFactory grains, ShardSet set)
{
    /// <summary>The key extension of a shard's first replica.</summary>
    public const string ReplicaName = "r0";

    public ShardSet Set => set;

    /// <summary>The best <paramref name="k"/> items over all shards for <paramref name="vector"/>, leaving out <paramref name="excludedRows"/>.</summary>
    public async Task<ShardHits> SearchAsync(float[] vector, int k, int ef = 0, int[]? excludedRows = null)
    {
        ArgumentNullException.ThrowIfNull(vector);
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k), $"k must be at least 1, got {k}");
        var query = new ShardQuery(vector, k, ef, excludedRows);
        var answers = new Task<ShardHits>[set.Shards];
        for (int s = 0; s < answers.Length; s++) answers[s] = grains.GetGrain<IShardGrain>(s, ReplicaName).Search(query);
        return Merge(await Task.WhenAll(answers), k);
    }

    /// <summary>The best <paramref name="k"/> of all the shards' hits: higher score first, then the lower row.</summary>
    internal static ShardHits Merge(IReadOnlyList<ShardHits> answers, int k)
    {
        int total = answers.Sum(a => a.Count);
        var rows = new long[total];
        var scores = new float[total];
        int at = 0;
        foreach (var a in answers)
        {
            a.Rows.CopyTo(rows, at);
            a.Scores.CopyTo(scores, at);
            at += a.Count;
        }
        var order = Enumerable.Range(0, total).ToArray();
        Array.Sort(order, (x, y) => scores[x] != scores[y] ? scores[y].CompareTo(scores[x]) : rows[x].CompareTo(rows[y]));
        int n = Math.Min(k, total);
        var best = new ShardHits(new long[n], new float[n]);
        for (int i = 0; i < n; i++)
        {
            best.Rows[i] = rows[order[i]];
            best.Scores[i] = scores[order[i]];
        }
        return best;
    }
}
