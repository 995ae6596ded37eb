namespace VectorRecall.Numerics;

/// <summary>Latency percentiles for the timing tables.</summary>
internal static class Percentiles
{
    /// <summary>The nearest-rank <paramref name="p"/>-th percentile (0 &lt; p ≤ 100) of values sorted ascending.</summary>
    public static double Of(ReadOnlySpan<double> sorted, double p)
    {
        if (sorted.IsEmpty) throw new ArgumentException("no values to take a percentile of");
        return sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Length) - 1, 0, sorted.Length - 1)];
    }
}
