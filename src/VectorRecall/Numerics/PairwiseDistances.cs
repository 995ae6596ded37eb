namespace VectorRecall.Numerics;

/// <summary>
/// All-pairs squared L2 distances through one GEMM (‖a‖² + ‖b‖² − 2·a·bᵀ): the one implementation exact
/// search, the residual quantiser and k-means assignment share. Rounding can make the expansion
/// slightly negative for near-identical vectors; results are clamped at 0.
/// </summary>
internal static class PairwiseDistances
{
    /// <summary>
    /// <paramref name="result"/>[i·m + j] = ‖a_i − b_j‖² for the rows of <paramref name="a"/> [n × dim] and
    /// <paramref name="b"/> [m × dim]. Squared norms may be passed when already known (an index keeps its
    /// vectors'); <paramref name="threads"/> is the GEMM's (0: <see cref="Threads.Count"/>).
    /// </summary>
    public static void SquaredL2(ReadOnlySpan<float> a, int n, ReadOnlySpan<float> b, int m, int dim, Span<float> result,
        ReadOnlySpan<float> aNorms = default, ReadOnlySpan<float> bNorms = default, int threads = 0)
    {
        if (a.Length < (long)n * dim || b.Length < (long)m * dim || result.Length < (long)n * m)
            throw new ArgumentException($"buffers too small for [{n} x {dim}] against [{m} x {dim}]");
        Gemm.Multiply(a, dim, false, b, dim, true, result, m, n, m, dim, threads: threads);
        if (bNorms.IsEmpty)
        {
            var computed = new float[m];
            SquaredNorms(b, m, dim, computed);
            bNorms = computed;
        }
        for (int i = 0; i < n; i++)
        {
            var row = result.Slice(i * m, m);
            var x = a.Slice(i * dim, dim);
            float norm = aNorms.IsEmpty ? TensorPrimitives.Dot(x, x) : aNorms[i];
            TensorPrimitives.MultiplyAdd(row, -2f, bNorms[..m], row);
            TensorPrimitives.Add(row, norm, row);
            TensorPrimitives.Max(row, 0f, row);
        }
    }

    /// <summary>‖row‖² of each of the <paramref name="rows"/> rows of <paramref name="x"/>.</summary>
    public static void SquaredNorms(ReadOnlySpan<float> x, int rows, int dim, Span<float> norms)
    {
        for (int i = 0; i < rows; i++)
        {
            var r = x.Slice(i * dim, dim);
            norms[i] = TensorPrimitives.Dot(r, r);
        }
    }
}
