namespace VectorRecall.Numerics;

/// <summary>
/// The leading eigenpairs of a large symmetric positive semi-definite matrix known only through its product
/// with a block of vectors (for a graph filter: P·X = R̃ᵀ(R̃·X), never P itself): randomised subspace iteration
/// (Halko, Martinsson and Tropp, 2011) with a few extra columns, orthonormalised after every product, then
/// Rayleigh–Ritz, whose small eigenproblem is solved by cyclic Jacobi rotations.
/// </summary>
public static class TruncatedEigen
{
    /// <summary>Subspace iterations <see cref="Top"/> runs unless told otherwise (each one product with the operator).</summary>
    public const int DefaultIterations = 12;

    /// <summary>
    /// The <paramref name="k"/> largest eigenvalues (descending) of the n × n operator <paramref name="multiply"/>
    /// (X [n × m] → A·X [n × m]) and their eigenvectors as the columns of an [n × k] tensor.
    /// </summary>
    public static (float[] Values, Tensor Vectors) Top(Func<Tensor, Tensor> multiply, int n, int k, Rng rng, int oversample = 32, int iterations = DefaultIterations, IProgress<int>? progress = null)
    {
        if (k < 1 || k > n) throw new ArgumentOutOfRangeException(nameof(k), $"k = {k} eigenpairs of a {n} x {n} matrix");
        if (iterations < 1 || oversample < 0) throw new ArgumentOutOfRangeException(nameof(iterations), "iterations must be >= 1 and oversampling >= 0");
        int m = Math.Min(n, k + oversample);
        var q = Tensor.Randn(rng, 1f, n, m);
        Orthonormalize(q);
        for (int it = 0; it < iterations; it++)
        {
            q = multiply(q);
            // One Cholesky QR pass keeps the block well conditioned between products; the last gets two.
            Orthonormalize(q, passes: it + 1 == iterations ? 2 : 1);
            progress?.Report(it + 1);
        }
        var aq = multiply(q);
        var small = new Tensor(m, m);
        Gemm.Multiply(q, true, aq, false, small);
        var (values, vectors) = Jacobi(small);
        var top = new Tensor(m, k);
        for (int r = 0; r < m; r++)
            for (int c = 0; c < k; c++) top[r, c] = (float)vectors[r, c];
        var result = new Tensor(n, k);
        Gemm.Multiply(q, false, top, false, result);
        return (values[..k].Select(v => (float)v).ToArray(), result);
    }

    /// <summary>Makes the columns of <paramref name="y"/> orthonormal in place (Cholesky QR; two passes make the result orthonormal to float precision).</summary>
    public static void Orthonormalize(Tensor y, int passes = 2)
    {
        int m = y.Cols;
        var gram = new Tensor(m, m);
        var inverse = new Tensor(m, m);
        var result = new Tensor(y.Rows, m);
        for (int pass = 0; pass < passes; pass++)
        {
            Gemm.Multiply(y, true, y, false, gram);
            var l = Cholesky(gram);
            // y ← y·L⁻ᵀ, with L⁻¹ by forward substitution (m is small).
            inverse.Span.Clear();
            for (int c = 0; c < m; c++)
                for (int r = c; r < m; r++)
                {
                    double sum = r == c ? 1 : 0;
                    for (int j = c; j < r; j++) sum -= l[r, j] * inverse[j, c];
                    inverse[r, c] = (float)(sum / l[r, r]);
                }
            Gemm.Multiply(y, false, inverse, true, result);
            result.Span.CopyTo(y.Span);
        }
    }

    /// <summary>
    /// L with G = L·Lᵀ, in double; a column that is (numerically) dependent on earlier ones gets a tiny
    /// diagonal instead of failing, so it comes out of <see cref="Orthonormalize"/> as noise, not NaN.
    /// </summary>
    private static double[,] Cholesky(Tensor g)
    {
        int m = g.Rows;
        var l = new double[m, m];
        double floor = 1e-12 * Math.Max(1e-30, Enumerable.Range(0, m).Max(i => (double)g[i, i]));
        for (int j = 0; j < m; j++)
        {
            double d = g[j, j];
            for (int k = 0; k < j; k++) d -= l[j, k] * l[j, k];
            l[j, j] = Math.Sqrt(Math.Max(d, floor));
            for (int i = j + 1; i < m; i++)
            {
                double s = g[i, j];
                for (int k = 0; k < j; k++) s -= l[i, k] * l[j, k];
                l[i, j] = s / l[j, j];
            }
        }
        return l;
    }

    /// <summary>Eigenvalues (descending) and eigenvectors (columns) of a small symmetric matrix by cyclic Jacobi rotations.</summary>
    public static (double[] Values, double[,] Vectors) Jacobi(Tensor symmetric, int maxSweeps = 50)
    {
        int m = symmetric.Rows;
        if (symmetric.Cols != m) throw new ArgumentException($"Jacobi needs a square matrix, got {symmetric}");
        var a = new double[m, m];
        var v = new double[m, m];
        for (int i = 0; i < m; i++)
        {
            v[i, i] = 1;
            for (int j = 0; j < m; j++) a[i, j] = 0.5 * (symmetric[i, j] + symmetric[j, i]);
        }
        for (int sweep = 0; sweep < maxSweeps; sweep++)
        {
            double off = 0, diagonal = 0;
            for (int i = 0; i < m; i++)
            {
                diagonal += a[i, i] * a[i, i];
                for (int j = i + 1; j < m; j++) off += a[i, j] * a[i, j];
            }
            if (off <= 1e-24 * Math.Max(diagonal, 1e-300)) break;
            for (int p = 0; p < m - 1; p++)
                for (int q = p + 1; q < m; q++)
                {
                    if (Math.Abs(a[p, q]) < 1e-300) continue;
                    // The rotation that zeroes a[p, q] (Golub & Van Loan, algorithm 8.4.1).
                    double theta = (a[q, q] - a[p, p]) / (2 * a[p, q]);
                    double t = Math.Sign(theta == 0 ? 1 : theta) / (Math.Abs(theta) + Math.Sqrt(theta * theta + 1));
                    double c = 1 / Math.Sqrt(t * t + 1), s = t * c;
                    for (int k = 0; k < m; k++)
                    {
                        double akp = a[k, p], akq = a[k, q];
                        a[k, p] = c * akp - s * akq;
                        a[k, q] = s * akp + c * akq;
                    }
                    for (int k = 0; k < m; k++)
                    {
                        double apk = a[p, k], aqk = a[q, k];
                        a[p, k] = c * apk - s * aqk;
                        a[q, k] = s * apk + c * aqk;
                    }
                    for (int k = 0; k < m; k++)
                    {
                        double vkp = v[k, p], vkq = v[k, q];
                        v[k, p] = c * vkp - s * vkq;
                        v[k, q] = s * vkp + c * vkq;
                    }
                }
        }
        var order = Enumerable.Range(0, m).OrderByDescending(i => a[i, i]).ToArray();
        var values = order.Select(i => a[i, i]).ToArray();
        var vectors = new double[m, m];
        for (int r = 0; r < m; r++)
            for (int c = 0; c < m; c++) vectors[r, c] = v[r, order[c]];
        return (values, vectors);
    }
}
