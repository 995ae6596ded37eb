namespace VectorRecall.Numerics;

/// <summary>
/// The leading eigenpairs of a large symmetric positive semi-definite matrix known only through its product
/// with a block of vectors (for a graph filter: P·X = R̃ᵀ(R̃·X), never P itself): randomised subspace iteration
/// (Halko, Martinsson and Tropp, 2011) with a few extra columns, orthonormalised after every product, then
/// Rayleigh–Ritz, whose small eigenproblem <see cref="SymmetricEigen"/> solves.
/// </summary>
public static class TruncatedEigen
{
    /// <summary>Subspace iterations <see cref="Top"/> runs from a random block unless told otherwise (each one product with the operator).</summary>
    public const int DefaultIterations = 12;

    /// <summary>
    /// Subspace iterations that refine a block already close to the answer (the eigenvectors of a slightly smaller
    /// graph): the few leading directions that moved converge in a handful of products.
    /// </summary>
    public const int WarmIterations = 4;

    /// <summary>
    /// The <paramref name="k"/> largest eigenvalues (descending) of the n × n operator <paramref name="multiply"/>
    /// (X [n × m] → A·X [n × m]) and their eigenvectors as the columns of an [n × k] tensor. <paramref name="start"/>,
    /// when given, gives the first block its leading columns (n rows; up to k + <paramref name="oversample"/> of its
    /// columns are used, random columns fill the rest): the previous answer for a slightly changed operator, which needs far fewer <paramref name="iterations"/>.
    /// <paramref name="multiply"/> may hand back the same few blocks again and again, provided it never writes into the
    /// block it is given: only the latest product and its input are used.
    /// </summary>
    public static (float[] Values, Tensor Vectors) Top(Func<Tensor, Tensor> multiply, int n, int k, Rng rng, int oversample = 32, int iterations = DefaultIterations, IProgress<int>? progress = null, Tensor? start = null)
    {
        if (k < 1 || k > n) throw new ArgumentOutOfRangeException(nameof(k), $"k = {k} eigenpairs of a {n} x {n} matrix");
        if (iterations < 1 || oversample < 0) throw new ArgumentOutOfRangeException(nameof(iterations), "iterations must be >= 1 and oversampling >= 0");
        int m = Math.Min(n, k + oversample);
        if (start is not null && start.Rows != n) throw new ArgumentException($"the starting block must have {n} rows, got {start}", nameof(start));
        var q = Tensor.Randn(rng, 1f, n, m);
        if (start is not null)
            for (int r = 0; r < n; r++) start.Row(r)[..Math.Min(start.Cols, m)].CopyTo(q.Row(r));
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
        var (values, vectors) = SymmetricEigen.Solve(small);
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
        // y ← y·L⁻ᵀ a block of rows at a time, through a scratch of that many rows: a whole copy of y would be as large as
        // y (Gowalla's item graph at rank 2,048: 341 MB per pass). Blocks of at least OrthonormalizeRows rows keep each
        // element's sum in the order one product over all of y gives (fewer rows would take GEMM's paths for a few rows
        // or a split k).
        int block = Math.Min(y.Rows, 2 * OrthonormalizeRows);
        var scratch = new float[(long)block * m];
        for (int pass = 0; pass < passes; pass++)
        {
            Gemm.Multiply(y, true, y, false, gram);
            InverseCholeskyFactor(gram, inverse);
            for (int lo = 0; lo < y.Rows;)
            {
                int hi = y.Rows - lo < 2 * OrthonormalizeRows ? y.Rows : lo + OrthonormalizeRows;
                var rows = y.Span.Slice(lo * m, (hi - lo) * m);
                var product = scratch.AsSpan(0, rows.Length);
                Gemm.Multiply(rows, m, false, inverse.Span, m, true, product, m, hi - lo, m, m);
                product.CopyTo(rows);
                lo = hi;
            }
        }
    }

    /// <summary>Rows of the block <see cref="Orthonormalize"/> multiplies at a time (the last block takes up to twice as many).</summary>
    internal const int OrthonormalizeRows = 512;

    /// <summary>L⁻¹ in float, L the Cholesky factor of <paramref name="gram"/> = yᵀy: y·L⁻ᵀ has orthonormal columns.</summary>
    internal static void InverseCholeskyFactor(Tensor gram, Tensor inverse)
    {
        var lowerInverse = LowerInverse(Cholesky(gram), gram.Rows);
        for (int i = 0; i < lowerInverse.Length; i++) inverse.Span[i] = (float)lowerInverse[i];
    }

    /// <summary>
    /// L (row-major, m × m) with G = L·Lᵀ, in double; a column that is (numerically) dependent on earlier ones gets a
    /// tiny diagonal instead of failing, so it comes out of <see cref="Orthonormalize"/> as noise, not NaN.
    /// </summary>
    private static double[] Cholesky(Tensor g)
    {
        int m = g.Rows;
        var l = new double[m * m];
        double largest = 1e-30;
        for (int i = 0; i < m; i++) largest = Math.Max(largest, g[i, i]);
        double floor = 1e-12 * largest;
        for (int j = 0; j < m; j++)
        {
            var lj = l.AsSpan(j * m, j);
            double d = g[j, j] - TensorPrimitives.Dot<double>(lj, lj);
            double diagonal = Math.Sqrt(Math.Max(d, floor));
            l[j * m + j] = diagonal;
            for (int i = j + 1; i < m; i++)
                l[i * m + j] = (g[i, j] - TensorPrimitives.Dot<double>(l.AsSpan(i * m, j), lj)) / diagonal;
        }
        return l;
    }

    /// <summary>L⁻¹ of a lower-triangular L (row-major): row r is (e_r − Σ_(j&lt;r) L[r, j]·row j) / L[r, r], each term a contiguous row update.</summary>
    private static double[] LowerInverse(double[] l, int m)
    {
        var inverse = new double[m * m];
        for (int r = 0; r < m; r++)
        {
            var row = inverse.AsSpan(r * m, r + 1);
            row[r] = 1;
            for (int j = 0; j < r; j++)
            {
                double lrj = l[r * m + j];
                if (lrj != 0) TensorPrimitives.MultiplyAdd<double>(inverse.AsSpan(j * m, j + 1), -lrj, row[..(j + 1)], row[..(j + 1)]);
            }
            TensorPrimitives.Multiply<double>(row, 1 / l[r * m + r], row);
        }
        return inverse;
    }
}
