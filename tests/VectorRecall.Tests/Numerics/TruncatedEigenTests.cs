using VectorRecall.Numerics;

namespace VectorRecall.Tests.Numerics;

public class TruncatedEigenTests
{
    [Fact]
    public void JacobiSolvesATwoByTwoByHand()
    {
        // [[2, 1], [1, 2]]: eigenvalues 3 and 1, eigenvectors (1, 1)/√2 and (1, −1)/√2.
        var (values, vectors) = TruncatedEigen.Jacobi(Tensor.FromArray([2, 1, 1, 2], 2, 2));
        Assert.Equal(3, values[0], 10);
        Assert.Equal(1, values[1], 10);
        Assert.Equal(1, Math.Abs(vectors[0, 0] + vectors[1, 0]) / Math.Sqrt(2), 10);
    }

    [Fact]
    public void TheLeadingEigenpairsOfAGramMatrixMatchTheFullSolution()
    {
        // A = BᵀB for a random 40 × 30 B, multiplied without forming A.
        var rng = new Rng(4);
        var b = Tensor.Randn(rng, 1f, 40, 30);
        Tensor Multiply(Tensor x)
        {
            var bx = new Tensor(40, x.Cols);
            Gemm.Multiply(b, false, x, false, bx);
            var y = new Tensor(30, x.Cols);
            Gemm.Multiply(b, true, bx, false, y);
            return y;
        }
        var a = new Tensor(30, 30);
        Gemm.Multiply(b, true, b, false, a);
        var (all, allVectors) = TruncatedEigen.Jacobi(a);
        var (top, vectors) = TruncatedEigen.Top(Multiply, 30, 5, new Rng(9), oversample: 10, iterations: 30);
        for (int k = 0; k < 5; k++)
        {
            Assert.Equal(all[k], top[k], 2);
            double dot = 0;
            for (int r = 0; r < 30; r++) dot += allVectors[r, k] * vectors[r, k];
            Assert.Equal(1, Math.Abs(dot), 3);  // the same direction up to sign
        }
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
}
