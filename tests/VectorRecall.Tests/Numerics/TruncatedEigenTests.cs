using VectorRecall.Numerics;

namespace VectorRecall.Tests.Numerics;

public class TruncatedEigenTests
{
    [Fact]
    public void TheSymmetricSolverSolvesATwoByTwoByHand()
    {
        // [[2, 1], [1, 2]]: eigenvalues 3 and 1, eigenvectors (1, 1)/√2 and (1, −1)/√2.
        var (values, vectors) = SymmetricEigen.Solve(Tensor.FromArray([2, 1, 1, 2], 2, 2));
        Assert.Equal(3, values[0], 10);
        Assert.Equal(1, values[1], 10);
        Assert.Equal(1, Math.Abs(vectors[0, 0] + vectors[1, 0]) / Math.Sqrt(2), 10);
        Assert.Equal(0, vectors[0, 1] + vectors[1, 1], 10);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(17)]
    [InlineData(120)]
    public void TheSymmetricSolverGivesOrthonormalEigenvectorsOfARandomMatrix(int m)
    {
        var b = Tensor.Randn(new Rng(5), 1f, m, m);
        var a = new Tensor(m, m);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++) a[i, j] = b[i, j] + b[j, i];
        var (values, vectors) = SymmetricEigen.Solve(a);
        for (int c = 0; c < m; c++)
        {
            if (c > 0) Assert.True(values[c] <= values[c - 1]);
            for (int r = 0; r < m; r++)
            {
                double av = 0;
                for (int j = 0; j < m; j++) av += a[r, j] * vectors[j, c];
                Assert.Equal(values[c] * vectors[r, c], av, 4);  // A v = λ v
            }
            for (int d = 0; d < m; d++)
            {
                double dot = 0;
                for (int r = 0; r < m; r++) dot += vectors[r, c] * vectors[r, d];
                Assert.Equal(c == d ? 1 : 0, dot, 8);
            }
        }
        double trace = 0;
        for (int i = 0; i < m; i++) trace += a[i, i];
        Assert.Equal(trace, values.Sum(), 3);
    }

    [Fact]
    public void TheSymmetricSolverHandlesRepeatedEigenvaluesAndADiagonalMatrix()
    {
        // diag(1, 4, 4, 0, 4): already diagonal (every reflection is skipped) with a threefold eigenvalue.
        var a = new Tensor(5, 5);
        float[] diagonal = [1, 4, 4, 0, 4];
        for (int i = 0; i < 5; i++) a[i, i] = diagonal[i];
        var (values, vectors) = SymmetricEigen.Solve(a);
        Assert.Equal([4, 4, 4, 1, 0], values.Select(v => Math.Round(v, 10)));
        Assert.Equal(1, Math.Abs(vectors[0, 3]), 10);
        Assert.Equal(1, Math.Abs(vectors[3, 4]), 10);
    }

    [Fact]
    public void TheLeadingEigenpairsOfAGramMatrixMatchTheFullSolution()
    {
        var (b, multiply) = GramOperator();
        var a = new Tensor(30, 30);
        Gemm.Multiply(b, true, b, false, a);
        var (all, allVectors) = SymmetricEigen.Solve(a);
        var (top, vectors) = TruncatedEigen.Top(multiply, 30, 5, new Rng(9), oversample: 10, iterations: 30);
        AssertMatches(all, allVectors, top, vectors, 5);
    }

    [Fact]
    public void AWarmStartFromANearbyOperatorConvergesInAFewIterations()
    {
        // The answer for BᵀB starts the iteration for (B + small change)ᵀ(B + small change).
        var (b, multiply) = GramOperator();
        var (_, previous) = TruncatedEigen.Top(multiply, 30, 5, new Rng(9), oversample: 10, iterations: 30);
        var noise = Tensor.Randn(new Rng(11), 0.02f, 40, 30);
        System.Numerics.Tensors.TensorPrimitives.Add(b.Span, noise.Span, b.Span);
        var a = new Tensor(30, 30);
        Gemm.Multiply(b, true, b, false, a);
        var (all, allVectors) = SymmetricEigen.Solve(a);
        var (top, vectors) = TruncatedEigen.Top(multiply, 30, 5, new Rng(9), oversample: 10, iterations: TruncatedEigen.WarmIterations, start: previous);
        AssertMatches(all, allVectors, top, vectors, 5);
        Assert.Throws<ArgumentException>(() => TruncatedEigen.Top(multiply, 30, 5, new Rng(9), start: new Tensor(29, 5)));
    }

    [Fact]
    public void OrthonormalizeGivesOrthonormalColumns()
    {
        var y = Tensor.Randn(new Rng(2), 1f, 50, 8);
        TruncatedEigen.Orthonormalize(y);
        var g = new Tensor(8, 8);
        Gemm.Multiply(y, true, y, false, g);
        for (int i = 0; i < 8; i++)
            for (int j = 0; j < 8; j++) Assert.Equal(i == j ? 1f : 0f, g[i, j], 4);
    }

    [Theory]
    [InlineData(1500, 96)]   // three blocks, the last of 988 rows
    [InlineData(1300, 1040)] // k deep enough for GEMM's split-k path, were a block short
    [InlineData(300, 16)]    // one block
    public void OrthonormalizeInBlocksSumsAsOneProductDoes(int rows, int cols)
    {
        // Blocks of rows keep every element's sum in the order of one product over all of y, bit for bit.
        var y = Tensor.Randn(new Rng(5), 1f, rows, cols);
        var gram = new Tensor(cols, cols);
        Gemm.Multiply(y, true, y, false, gram);
        var inverse = new Tensor(cols, cols);
        TruncatedEigen.InverseCholeskyFactor(gram, inverse);
        var whole = new Tensor(rows, cols);
        Gemm.Multiply(y, false, inverse, true, whole);

        TruncatedEigen.Orthonormalize(y, passes: 1);
        Assert.True(whole.Span.SequenceEqual(y.Span));
    }

    /// <summary>A random 40 × 30 B and the product X ↦ Bᵀ(B·X), A = BᵀB never formed (B is read at each call).</summary>
    private static (Tensor B, Func<Tensor, Tensor> Multiply) GramOperator()
    {
        var b = Tensor.Randn(new Rng(4), 1f, 40, 30);
        Tensor Multiply(Tensor x)
        {
            var bx = new Tensor(40, x.Cols);
            Gemm.Multiply(b, false, x, false, bx);
            var y = new Tensor(30, x.Cols);
            Gemm.Multiply(b, true, bx, false, y);
            return y;
        }
        return (b, Multiply);
    }

    private static void AssertMatches(double[] all, double[,] allVectors, float[] top, Tensor vectors, int k)
    {
        for (int c = 0; c < k; c++)
        {
            Assert.Equal(all[c], top[c], 2);
            double dot = 0;
            for (int r = 0; r < allVectors.GetLength(0); r++) dot += allVectors[r, c] * vectors[r, c];
            Assert.Equal(1, Math.Abs(dot), 3);  // the same direction up to sign
        }
    }
}
