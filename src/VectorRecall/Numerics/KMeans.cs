namespace VectorRecall.Numerics;

/// <summary>The result of <see cref="KMeans.Fit"/>: centroids [k × dim] and each point's cluster.</summary>
internal sealed record KMeansResult(Tensor Centroids, int[] Assignment, int Iterations);

/// <summary>
/// Lloyd's k-means with k-means++ seeding, the one clustering every part of the library uses (the
/// tree builder's 2-means, the residual quantiser's codebook initialisation). A cluster that ends
/// an iteration empty is re-seeded with the point farthest from its centroid, so k clusters always
/// come back when there are at least k distinct points. Stops when no point changes cluster.
/// </summary>
internal static class KMeans
{
    /// <summary>Below this many point–centroid products per iteration the assignment runs on one core.</summary>
    private const long ParallelWork = 1 << 20;

    /// <summary>Clusters the rows of <paramref name="points"/> [n × dim] into <paramref name="k"/> groups.</summary>
    public static KMeansResult Fit(Tensor points, int k, int maxIterations, Rng rng, bool parallel = true)
    {
        int n = points.Rows, dim = points.Cols;
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k), $"k-means needs k >= 1, got {k}");
        if (n < k) throw new ArgumentException($"k-means with k = {k} needs at least {k} points, got {n}");
        if (maxIterations < 1) throw new ArgumentOutOfRangeException(nameof(maxIterations), $"k-means needs at least one iteration, got {maxIterations}");
        var centroids = SeedPlusPlus(points, k, rng);
        var assignment = new int[n];
        var distance = new float[n];
        int iterations = 0;
        for (bool changed = true; changed && iterations < maxIterations; iterations++)
        {
            changed = Assign(points, centroids, assignment, distance, parallel && (long)n * k * dim >= ParallelWork) | iterations == 0;
            Update(points, centroids, assignment, distance);
        }
        return new KMeansResult(centroids, assignment, iterations);
    }

    /// <summary>Points scored against all centroids at once (one GEMM per block of this many).</summary>
    private const int PointBlock = 256;

    /// <summary>Each point's nearest centroid (squared L2) and the distance to it; returns whether any assignment changed.</summary>
    public static bool Assign(Tensor points, Tensor centroids, int[] assignment, float[] distance, bool parallel)
    {
        int n = points.Rows, k = centroids.Rows, dim = points.Cols;
        var centroidNorms = new float[k];
        PairwiseDistances.SquaredNorms(centroids.Span, k, dim, centroidNorms);
        int changed = 0;
        void Range(int start, int end)
        {
            bool any = false;
            var block = new float[Math.Min(PointBlock, Math.Max(1, end - start)) * k];
            for (int b0 = start; b0 < end; b0 += PointBlock)
            {
                int bn = Math.Min(PointBlock, end - b0);
                PairwiseDistances.SquaredL2(points.RowRange(b0, bn).Span, bn, centroids.Span, k, dim, block, bNorms: centroidNorms, threads: 1);
                for (int i = 0; i < bn; i++)
                {
                    var row = block.AsSpan(i * k, k);
                    int best = TensorPrimitives.IndexOfMin(row);
                    any |= assignment[b0 + i] != best;
                    assignment[b0 + i] = best;
                    distance[b0 + i] = row[best];
                }
            }
            if (any) Interlocked.Exchange(ref changed, 1);
        }
        if (!parallel) Range(0, n);
        else
        {
            int chunks = Threads.Count * 4;
            Parallel.For(0, chunks, Threads.Options, c => Range((int)((long)n * c / chunks), (int)((long)n * (c + 1) / chunks)));
        }
        return changed != 0;
    }

    /// <summary>Centroids become their points' means; an empty cluster takes the point farthest from its own centroid.</summary>
    private static void Update(Tensor points, Tensor centroids, int[] assignment, float[] distance)
    {
        int k = centroids.Rows, dim = points.Cols;
        var counts = new int[k];
        var sums = new double[k * dim];
        for (int i = 0; i < points.Rows; i++)
        {
            var x = points.Row(i);
            var sum = sums.AsSpan(assignment[i] * dim, dim);
            counts[assignment[i]]++;
            for (int j = 0; j < dim; j++) sum[j] += x[j];
        }
        for (int c = 0; c < k; c++)
        {
            var centroid = centroids.Row(c);
            if (counts[c] > 0)
            {
                var sum = sums.AsSpan(c * dim, dim);
                for (int j = 0; j < dim; j++) centroid[j] = (float)(sum[j] / counts[c]);
                continue;
            }
            int far = 0;
            for (int i = 1; i < distance.Length; i++) if (distance[i] > distance[far]) far = i;
            points.Row(far).CopyTo(centroid);
            distance[far] = 0;  // the next empty cluster takes another point
        }
    }

    /// <summary>k-means++: the first centroid uniformly, each next one with probability proportional to the squared distance to the nearest chosen.</summary>
    private static Tensor SeedPlusPlus(Tensor points, int k, Rng rng)
    {
        int n = points.Rows;
        var centroids = new Tensor(k, points.Cols);
        points.Row(rng.NextInt(n)).CopyTo(centroids.Row(0));
        var nearest = new double[n];
        Array.Fill(nearest, double.PositiveInfinity);
        for (int c = 1; c < k; c++)
        {
            double total = 0;
            for (int i = 0; i < n; i++)
            {
                nearest[i] = Math.Min(nearest[i], Distances.SquaredL2(points.Row(i), centroids.Row(c - 1)));
                total += nearest[i];
            }
            int chosen = n - 1;
            if (total > 0)
            {
                double target = rng.NextDouble() * total;
                for (int i = 0; i < n; i++)
                {
                    target -= nearest[i];
                    if (target < 0) { chosen = i; break; }
                }
            }
            else chosen = rng.NextInt(n);  // every point coincides with a centroid
            points.Row(chosen).CopyTo(centroids.Row(c));
        }
        return centroids;
    }
}
