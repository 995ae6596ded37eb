using VectorRecall.Numerics;

namespace VectorRecall.TwoTower;

public enum SamplerKind { Uniform, Popularity }

/// <summary>
/// Draws negative items, uniformly or in proportion to popularity (training count + 1, so that
/// unseen items can be drawn), in O(1) per draw with Walker's alias table, and reports the
/// probability of each item per draw for the logQ correction.
/// </summary>
internal sealed class NegativeSampler
{
    private readonly float[] _threshold;
    private readonly int[] _alias;
    private readonly float[] _logProbability;

    public NegativeSampler(SamplerKind kind, int[] itemCounts)
    {
        int n = itemCounts.Length;
        if (n == 0) throw new ArgumentException("cannot sample negatives from an empty catalog");
        Kind = kind;
        var weight = new double[n];
        for (int i = 0; i < n; i++) weight[i] = kind == SamplerKind.Uniform ? 1 : itemCounts[i] + 1.0;
        double total = weight.Sum();
        _logProbability = new float[n];
        for (int i = 0; i < n; i++) _logProbability[i] = (float)Math.Log(weight[i] / total);
        (_threshold, _alias) = BuildAlias(weight, total);
    }

    public SamplerKind Kind { get; }
    public int ItemCount => _alias.Length;

    /// <summary>log q(item): the log-probability that one draw returns <paramref name="item"/>.</summary>
    public float LogProbability(int item) => _logProbability[item];

    public int Next(Rng rng)
    {
        int slot = rng.NextInt(_alias.Length);
        return rng.NextFloat() < _threshold[slot] ? slot : _alias[slot];
    }

    public void Fill(Span<int> items, Rng rng)
    {
        for (int i = 0; i < items.Length; i++) items[i] = Next(rng);
    }

    private static (float[] Threshold, int[] Alias) BuildAlias(double[] weight, double total)
    {
        int n = weight.Length;
        var scaled = new double[n];
        var threshold = new float[n];
        var alias = new int[n];
        var small = new Stack<int>();
        var large = new Stack<int>();
        for (int i = 0; i < n; i++)
        {
            scaled[i] = weight[i] * n / total;
            (scaled[i] < 1 ? small : large).Push(i);
            alias[i] = i;
        }
        while (small.Count > 0 && large.Count > 0)
        {
            int s = small.Pop(), l = large.Pop();
            threshold[s] = (float)scaled[s];
            alias[s] = l;
            scaled[l] -= 1 - scaled[s];
            (scaled[l] < 1 ? small : large).Push(l);
        }
        foreach (int i in small.Concat(large)) threshold[i] = 1f;
        return (threshold, alias);
    }
}
