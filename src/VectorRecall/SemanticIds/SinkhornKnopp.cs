namespace VectorRecall.SemanticIds;

/// <summary>
/// Entropy-regularised optimal transport between n points (mass 1/n each) and k codes (capacity
/// 1/k each) by Sinkhorn-Knopp iterations, in the log domain and in float64 so a small ε never
/// overflows. Costs are first rescaled to [−1, 1] (centre of their range, half its width), so one ε
/// means the same whatever the scale of the distances. Taking each point's most likely code gives a
/// balanced assignment: codes that everyone is nearest to cannot take everyone.
/// </summary>
internal static class SinkhornKnopp
{
    /// <summary>
    /// The transport plan [rows × cols] for the cost matrix <paramref name="cost"/> (row-major): its row
    /// sums are 1/rows and its column sums 1/cols (to within the iterations' convergence).
    /// </summary>
    public static double[] Plan(ReadOnlySpan<float> cost, int rows, int cols, double epsilon, int iterations)
    {
        if (rows < 1 || cols < 1) throw new ArgumentOutOfRangeException(nameof(rows), $"Sinkhorn needs a non-empty cost matrix, got {rows} x {cols}");
        if (cost.Length != rows * cols) throw new ArgumentException($"{cost.Length} costs for a {rows} x {cols} matrix");
        if (!(epsilon > 0) || double.IsInfinity(epsilon)) throw new ArgumentOutOfRangeException(nameof(epsilon), $"Sinkhorn's epsilon must be positive and finite, got {epsilon}");
        if (iterations < 1) throw new ArgumentOutOfRangeException(nameof(iterations), $"Sinkhorn needs at least one iteration, got {iterations}");

        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        foreach (float c in cost)
        {
            if (!float.IsFinite(c)) throw new ArgumentException("Sinkhorn: the cost matrix holds a NaN or infinite value");
            min = Math.Min(min, c); max = Math.Max(max, c);
        }
        double middle = 0.5 * ((double)max + min), amplitude = 0.5 * ((double)max - min) + 1e-5;
        var logKernel = new double[rows * cols];
        for (int i = 0; i < logKernel.Length; i++) logKernel[i] = -((cost[i] - middle) / amplitude) / epsilon;

        double logRow = -Math.Log(rows), logCol = -Math.Log(cols);
        var u = new double[rows];
        var v = new double[cols];
        var column = new double[rows];
        for (int it = 0; it < iterations; it++)
        {
            for (int i = 0; i < rows; i++) u[i] = logRow - LogSumExp(logKernel.AsSpan(i * cols, cols), v);
            for (int j = 0; j < cols; j++)
            {
                for (int i = 0; i < rows; i++) column[i] = logKernel[i * cols + j];
                v[j] = logCol - LogSumExp(column, u);
            }
        }
        // The plan overwrites the log-kernel in place: P_ij = exp(log K_ij + u_i + v_j).
        var plan = logKernel;
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) plan[i * cols + j] = Math.Exp(logKernel[i * cols + j] + u[i] + v[j]);
        return plan;
    }

    /// <summary>Each row's code under the plan (its largest entry): a balanced assignment of rows to columns.</summary>
    public static void Assign(ReadOnlySpan<float> cost, int rows, int cols, double epsilon, int iterations, Span<int> assignment)
    {
        if (assignment.Length < rows) throw new ArgumentException($"room for {assignment.Length} assignments, {rows} rows");
        var plan = Plan(cost, rows, cols, epsilon, iterations);
        for (int i = 0; i < rows; i++)
        {
            var row = plan.AsSpan(i * cols, cols);
            int best = 0;
            for (int j = 1; j < cols; j++) if (row[j] > row[best]) best = j;
            assignment[i] = best;
        }
    }

    /// <summary>log Σ_j exp(a_j + b_j), shifted by the maximum.</summary>
    private static double LogSumExp(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double max = double.NegativeInfinity;
        for (int j = 0; j < a.Length; j++) max = Math.Max(max, a[j] + b[j]);
        if (double.IsNegativeInfinity(max)) return max;
        double sum = 0;
        for (int j = 0; j < a.Length; j++) sum += Math.Exp(a[j] + b[j] - max);
        return max + Math.Log(sum);
    }
}
