namespace VectorRecall.Numerics;

/// <summary>
/// Every eigenpair of a dense symmetric matrix of moderate size (the Rayleigh–Ritz step of <see cref="TruncatedEigen"/>,
/// up to a few thousand rows): Householder reduction to tridiagonal form, then the implicit QL algorithm with Wilkinson
/// shifts on the tridiagonal matrix, then the reflections applied back to its eigenvectors. O(m³) in all, against the
/// O(m³) per sweep of cyclic Jacobi, and every inner loop walks a contiguous row (eigenvectors are kept as rows), so
/// it vectorises and stays in cache.
/// </summary>
public static class SymmetricEigen
{
    /// <summary>Eigenvalues (descending) and eigenvectors (the columns of Vectors, in the same order), in double.</summary>
    public static (double[] Values, double[,] Vectors) Solve(Tensor symmetric)
    {
        int m = symmetric.Rows;
        if (symmetric.Cols != m) throw new ArgumentException($"an eigendecomposition needs a square matrix, got {symmetric}");
        var a = new double[m * m];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++) a[i * m + j] = 0.5 * ((double)symmetric[i, j] + symmetric[j, i]);
        var (diagonal, offDiagonal, reflections, betas) = Tridiagonalize(a, m);
        var rows = new double[m * m];  // row i: eigenvector i of the tridiagonal matrix
        for (int i = 0; i < m; i++) rows[i * m + i] = 1;
        TridiagonalQl(diagonal, offDiagonal, rows, m);
        ApplyReflections(reflections, betas, rows, m);
        var order = Enumerable.Range(0, m).OrderByDescending(i => diagonal[i]).ToArray();
        var values = new double[m];
        var vectors = new double[m, m];
        for (int c = 0; c < m; c++)
        {
            values[c] = diagonal[order[c]];
            var row = rows.AsSpan(order[c] * m, m);
            for (int r = 0; r < m; r++) vectors[r, c] = row[r];
        }
        return (values, vectors);
    }

    /// <summary>
    /// Reduces <paramref name="a"/> (row-major, both triangles, overwritten) to T = Qᵀ A Q with Q = H_0 H_1 ⋯ H_(m−3).
    /// Step p's reflection H_p = I − β v vᵀ acts on indices p+1 … m−1 and maps column p below the diagonal onto its
    /// first entry; v is kept in row p of the returned reflections (entries p+1 …).
    /// </summary>
    private static (double[] Diagonal, double[] OffDiagonal, double[] Reflections, double[] Betas) Tridiagonalize(double[] a, int m)
    {
        var diagonal = new double[m];
        var offDiagonal = new double[m];  // offDiagonal[i] couples i and i + 1; the last is 0
        var reflections = new double[m * m];
        var betas = new double[m];
        var w = new double[m];
        for (int p = 0; p < m - 2; p++)
        {
            int start = p + 1, length = m - start;
            // By symmetry column p below the diagonal is row p right of it: contiguous.
            var x = a.AsSpan(p * m + start, length);
            var v = reflections.AsSpan(p * m + start, length);
            x.CopyTo(v);
            double sigma = Math.Sqrt(TensorPrimitives.Dot<double>(x, x));
            diagonal[p] = a[p * m + p];
            if (sigma == 0) { offDiagonal[p] = 0; continue; }
            double alpha = x[0] >= 0 ? -sigma : sigma;
            v[0] -= alpha;
            double beta = 2 / TensorPrimitives.Dot<double>(v, v);
            betas[p] = beta;
            offDiagonal[p] = alpha;
            // B ← H B H on the trailing block: w = βBv − (β/2)(vᵀβBv)v, then B ← B − v wᵀ − w vᵀ.
            var ws = w.AsSpan(0, length);
            for (int i = 0; i < length; i++) ws[i] = beta * TensorPrimitives.Dot<double>(a.AsSpan((start + i) * m + start, length), v);
            double k = 0.5 * beta * TensorPrimitives.Dot<double>(v, ws);
            TensorPrimitives.MultiplyAdd<double>(v, -k, ws, ws);
            for (int i = 0; i < length; i++)
            {
                var row = a.AsSpan((start + i) * m + start, length);
                TensorPrimitives.MultiplyAdd<double>(ws, -v[i], row, row);
                TensorPrimitives.MultiplyAdd<double>(v, -ws[i], row, row);
            }
        }
        if (m >= 2)
        {
            diagonal[m - 2] = a[(m - 2) * m + m - 2];
            offDiagonal[m - 2] = a[(m - 1) * m + m - 2];
        }
        diagonal[m - 1] = a[(m - 1) * m + m - 1];
        return (diagonal, offDiagonal, reflections, betas);
    }

    /// <summary>
    /// The implicit QL algorithm with Wilkinson shifts (as EISPACK's tql2): <paramref name="diagonal"/> becomes the
    /// eigenvalues and each rotation is applied to two rows of <paramref name="rows"/>, the eigenvectors as rows.
    /// </summary>
    private static void TridiagonalQl(double[] diagonal, double[] offDiagonal, double[] rows, int m)
    {
        var d = diagonal;
        var e = offDiagonal;
        for (int l = 0; l < m; l++)
        {
            for (int iteration = 0; ; iteration++)
            {
                int split = l;
                for (; split < m - 1; split++)
                {
                    double scale = Math.Abs(d[split]) + Math.Abs(d[split + 1]);
                    if (Math.Abs(e[split]) <= 1e-15 * scale) break;
                }
                if (split == l) break;
                if (iteration == 60) throw new ArithmeticException("the tridiagonal QL iteration did not converge");
                // The Wilkinson shift from the leading 2 × 2 block, then a chase of rotations from split up to l.
                double g = (d[l + 1] - d[l]) / (2 * e[l]);
                double r = Hypot(g, 1);
                g = d[split] - d[l] + e[l] / (g + (g >= 0 ? r : -r));
                double s = 1, c = 1, shift = 0;
                int i = split - 1;
                bool underflow = false;
                for (; i >= l; i--)
                {
                    double f = s * e[i], b = c * e[i];
                    r = Hypot(f, g);
                    e[i + 1] = r;
                    if (r == 0)
                    {
                        // The rotation is the identity: the matrix split here; restart the sweep.
                        d[i + 1] -= shift;
                        e[split] = 0;
                        underflow = true;
                        break;
                    }
                    s = f / r;
                    c = g / r;
                    g = d[i + 1] - shift;
                    r = (d[i] - g) * s + 2 * c * b;
                    shift = s * r;
                    d[i + 1] = g + shift;
                    g = c * r - b;
                    Rotate(rows.AsSpan(i * m, m), rows.AsSpan((i + 1) * m, m), c, s);
                }
                if (underflow) continue;
                d[l] -= shift;
                e[l] = g;
                e[split] = 0;
            }
        }
    }

    /// <summary>(lo, hi) ← (c·lo − s·hi, s·lo + c·hi): one Givens rotation of two eigenvector rows.</summary>
    private static void Rotate(Span<double> lo, Span<double> hi, double c, double s)
    {
        int i = 0;
        if (System.Numerics.Vector.IsHardwareAccelerated)
        {
            var cv = new System.Numerics.Vector<double>(c);
            var sv = new System.Numerics.Vector<double>(s);
            int width = System.Numerics.Vector<double>.Count;
            for (; i + width <= lo.Length; i += width)
            {
                var x = new System.Numerics.Vector<double>(lo[i..]);
                var y = new System.Numerics.Vector<double>(hi[i..]);
                (cv * x - sv * y).CopyTo(lo[i..]);
                (sv * x + cv * y).CopyTo(hi[i..]);
            }
        }
        for (; i < lo.Length; i++)
        {
            double x = lo[i], y = hi[i];
            lo[i] = c * x - s * y;
            hi[i] = s * x + c * y;
        }
    }

    /// <summary>Maps each eigenvector z of T to Q z = H_0(H_1(⋯ H_(m−3) z)), the eigenvector of the original matrix.</summary>
    private static void ApplyReflections(double[] reflections, double[] betas, double[] rows, int m)
    {
        Parallel.For(0, m, Threads.Options, row =>
        {
            var z = rows.AsSpan(row * m, m);
            for (int p = m - 3; p >= 0; p--)
            {
                if (betas[p] == 0) continue;
                int start = p + 1;
                var v = reflections.AsSpan(p * m + start, m - start);
                var tail = z[start..];
                double projection = betas[p] * TensorPrimitives.Dot<double>(v, tail);
                TensorPrimitives.MultiplyAdd<double>(v, -projection, tail, tail);
            }
        });
    }

    private static double Hypot(double x, double y) => Math.Sqrt(x * x + y * y);
}
