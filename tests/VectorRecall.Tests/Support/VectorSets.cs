using VectorRecall.Indexing;
using VectorRecall.Numerics;

namespace VectorRecall.Tests;

internal static class VectorSets
{
    /// <summary>
    /// Points around <paramref name="clusters"/> random centres (N(0, <paramref name="centreScale"/>²) per
    /// coordinate), unit-norm as ann_anchor.py makes them, or left as drawn (norms varying by cluster and point).
    /// </summary>
    public static float[] Clustered(int n, int dim, int clusters, ulong seed, float spread = 1f, bool normalise = true, float centreScale = 1f)
    {
        var rng = new Rng(seed);
        var centres = Tensor.Randn(rng, centreScale, clusters, dim);
        var data = new float[n * dim];
        for (int i = 0; i < n; i++)
        {
            var c = centres.Row(rng.NextInt(clusters));
            var row = data.AsSpan(i * dim, dim);
            for (int j = 0; j < dim; j++) row[j] = c[j] + spread * (float)rng.NextNormal();
            if (!normalise) continue;
            float norm = MathF.Sqrt(System.Numerics.Tensors.TensorPrimitives.Dot(row, row));
            System.Numerics.Tensors.TensorPrimitives.Divide(row, norm, row);
        }
        return data;
    }

    public static long[] Ids(int n, long offset = 1000) => Enumerable.Range(0, n).Select(i => offset + 3L * i).ToArray();

    /// <summary>Brute force in double precision, best first, ties to the lower id.</summary>
    public static (long Id, double Score)[] Exact(float[] data, long[] ids, ReadOnlySpan<float> query, Metric metric, int k)
    {
        int dim = query.Length;
        var q = query.ToArray().Select(v => (double)v).ToArray();
        if (metric == Metric.Cosine) { double qn = Math.Sqrt(q.Sum(v => v * v)); q = q.Select(v => qn > 0 ? v / qn : 0).ToArray(); }
        var all = new List<(long, double)>();
        for (int i = 0; i < ids.Length; i++)
        {
            var x = data.AsSpan(i * dim, dim).ToArray().Select(v => (double)v).ToArray();
            if (metric == Metric.Cosine) { double xn = Math.Sqrt(x.Sum(v => v * v)); x = x.Select(v => xn > 0 ? v / xn : 0).ToArray(); }
            double s = metric == Metric.L2 ? x.Zip(q, (a, b) => (a - b) * (a - b)).Sum() : x.Zip(q, (a, b) => a * b).Sum();
            all.Add((ids[i], s));
        }
        all.Sort((a, b) => metric == Metric.L2 ? a.Item2.CompareTo(b.Item2) : b.Item2.CompareTo(a.Item2));
        return all.Take(k).ToArray();
    }
}
