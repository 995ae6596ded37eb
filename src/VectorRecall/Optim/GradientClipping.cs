using VectorRecall.Autograd;

namespace VectorRecall.Optim;

public static class GradientClipping
{
    /// <summary>
    /// Scales all gradients so that their joint L2 norm is at most <paramref name="maxNorm"/>
    /// (<c>clip_grad_norm_</c>); returns the norm before clipping. Row-sparse parameters count
    /// only their touched rows (the others are zero).
    /// </summary>
    public static double ClipByGlobalNorm(IEnumerable<Parameter> parameters, double maxNorm)
    {
        if (!(maxNorm > 0)) throw new ArgumentOutOfRangeException(nameof(maxNorm), $"max norm {maxNorm} must be positive");
        var list = parameters.Where(p => p.Grad is not null).ToList();
        double sumSq = 0;
        foreach (var p in list)
            foreach (var (offset, length) in Runs(p))
            {
                double n = TensorPrimitives.Norm(p.Grad!.Data.AsSpan(offset, length));
                sumSq += n * n;
            }
        double norm = Math.Sqrt(sumSq);
        if (norm > maxNorm)
        {
            float scale = (float)(maxNorm / (norm + 1e-6));
            foreach (var p in list)
                foreach (var (offset, length) in Runs(p))
                {
                    var run = p.Grad!.Data.AsSpan(offset, length);
                    TensorPrimitives.Multiply(run, scale, run);
                }
        }
        return norm;
    }

    /// <summary>The (offset, length) runs of a gradient's storage that can be non-zero.</summary>
    private static IEnumerable<(int Offset, int Length)> Runs(Parameter p)
    {
        var g = p.Grad!;
        if (!p.RowSparse) { yield return (g.Offset, g.Length); yield break; }
        int cols = g.Cols;
        foreach (int r in p.TouchedRows) yield return (g.Offset + r * cols, cols);
    }
}
