using VectorRecall.Numerics;

namespace VectorRecall.Autograd;

public static partial class Ops
{
    public static Variable Relu(Variable x)
    {
        var y = Like(x.Value);
        TensorPrimitives.Max(x.Value.Span, 0f, y.Span);
        var output = Output(y, x);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                var gy = output.Grad!.Span; var xs = x.Value.Span; var gx = x.GradBuffer().Span;
                for (int i = 0; i < gx.Length; i++) if (xs[i] > 0) gx[i] += gy[i];
            };
        return output;
    }

    /// <summary>max(0, x) + α·min(0, x), with one α shared (length 1) or one per column.</summary>
    public static Variable PRelu(Variable x, Variable alpha)
    {
        int cols = x.Cols, len = alpha.Value.Length;
        if (len != 1 && len != cols) throw new ArgumentException($"prelu: alpha has {len} values; expected 1 or {cols}");
        var y = Like(x.Value);
        var xs = x.Value.Span; var ys = y.Span; var a = alpha.Value.Span;
        for (int i = 0; i < xs.Length; i++) ys[i] = xs[i] > 0 ? xs[i] : a[len == 1 ? 0 : i % cols] * xs[i];
        var output = Output(y, x, alpha);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                var gy = output.Grad!.Span; var xv = x.Value.Span; var av = alpha.Value.Span;
                Span<float> gx = x.RequiresGrad ? x.GradBuffer().Span : default;
                Span<float> ga = alpha.RequiresGrad ? alpha.GradBuffer().Span : default;
                for (int i = 0; i < xv.Length; i++)
                {
                    int j = len == 1 ? 0 : i % cols;
                    if (xv[i] > 0) { if (x.RequiresGrad) gx[i] += gy[i]; }
                    else
                    {
                        if (x.RequiresGrad) gx[i] += av[j] * gy[i];
                        if (alpha.RequiresGrad) ga[j] += xv[i] * gy[i];
                    }
                }
            };
        return output;
    }

    public static Variable Sigmoid(Variable x)
    {
        var y = Like(x.Value);
        TensorPrimitives.Sigmoid(x.Value.Span, y.Span);
        var output = Output(y, x);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                var gy = output.Grad!.Span; var ys = y.Span; var gx = x.GradBuffer().Span;
                for (int i = 0; i < gx.Length; i++) gx[i] += gy[i] * ys[i] * (1 - ys[i]);
            };
        return output;
    }

    public static Variable Tanh(Variable x)
    {
        var y = Like(x.Value);
        TensorPrimitives.Tanh(x.Value.Span, y.Span);
        var output = Output(y, x);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                var gy = output.Grad!.Span; var ys = y.Span; var gx = x.GradBuffer().Span;
                for (int i = 0; i < gx.Length; i++) gx[i] += gy[i] * (1 - ys[i] * ys[i]);
            };
        return output;
    }

    /// <summary>
    /// Inverted dropout: in training, zeroes each element with probability <paramref name="p"/> and
    /// scales the rest by 1/(1−p); outside training (or p = 0) it is the identity.
    /// </summary>
    public static Variable Dropout(Variable x, float p, bool training, Rng rng)
    {
        if (p < 0 || p >= 1) throw new ArgumentOutOfRangeException(nameof(p), $"dropout probability {p} is outside [0, 1)");
        if (!training || p == 0) return x;
        var mask = Like(x.Value);
        var ms = mask.Span;
        float keep = 1f / (1 - p);
        for (int i = 0; i < ms.Length; i++) ms[i] = rng.NextFloat() < p ? 0f : keep;
        var y = Like(x.Value);
        TensorPrimitives.Multiply(x.Value.Span, ms, y.Span);
        var output = Output(y, x);
        if (output.RequiresGrad)
            output.BackwardFn = () => TensorPrimitives.MultiplyAdd(output.Grad!.Span, mask.Span, x.GradBuffer().Span, x.GradBuffer().Span);
        return output;
    }

    /// <summary>Each row divided by its L2 norm (at least <paramref name="eps"/>), as <c>F.normalize</c>.</summary>
    public static Variable L2NormalizeRows(Variable x, float eps = 1e-12f)
    {
        int rows = x.Rows;
        var y = Like(x.Value);
        var norms = new float[rows];
        for (int r = 0; r < rows; r++)
        {
            norms[r] = TensorPrimitives.Norm(x.Value.Row(r));
            TensorPrimitives.Divide(x.Value.Row(r), MathF.Max(norms[r], eps), y.Row(r));
        }
        var output = Output(y, x);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                var gy = output.Grad!; var gx = x.GradBuffer();
                for (int r = 0; r < rows; r++)
                {
                    var yr = y.Row(r); var gyr = gy.Row(r); var gxr = gx.Row(r);
                    // d(x/n) = (g − y·(y·g)) / n while the norm is above eps; below it the divisor is the constant eps.
                    bool clamped = norms[r] < eps;
                    float proj = clamped ? 0f : TensorPrimitives.Dot(yr, gyr);
                    float inv = 1f / MathF.Max(norms[r], eps);
                    for (int i = 0; i < gxr.Length; i++) gxr[i] += (gyr[i] - yr[i] * proj) * inv;
                }
            };
        return output;
    }

    /// <summary>
    /// Batch normalisation over the rows of [batch × features]. In training it normalises with the
    /// batch's mean and (biased) variance and updates the running statistics in place
    /// (unbiased variance, as PyTorch does); in evaluation it uses the running statistics.
    /// </summary>
    public static Variable BatchNorm1d(Variable x, Variable gamma, Variable beta, Tensor runningMean, Tensor runningVar,
        bool training, float momentum = 0.1f, float eps = 1e-5f)
    {
        CheckMatrix(x, "batch norm");
        int n = x.Rows, d = x.Cols;
        if (gamma.Value.Length != d || beta.Value.Length != d || runningMean.Length != d || runningVar.Length != d)
            throw new ArgumentException($"batch norm: parameters must have {d} values (one per feature)");
        if (training && n < 2) throw new ArgumentException("batch norm: training needs at least 2 rows in a batch");

        var mean = new float[d];
        var invStd = new float[d];
        if (training)
        {
            var var_ = new double[d];
            var sum = new double[d];
            for (int r = 0; r < n; r++) { var row = x.Value.Row(r); for (int j = 0; j < d; j++) sum[j] += row[j]; }
            for (int j = 0; j < d; j++) mean[j] = (float)(sum[j] / n);
            for (int r = 0; r < n; r++) { var row = x.Value.Row(r); for (int j = 0; j < d; j++) { double c = row[j] - mean[j]; var_[j] += c * c; } }
            for (int j = 0; j < d; j++)
            {
                double biased = var_[j] / n;
                invStd[j] = (float)(1.0 / Math.Sqrt(biased + eps));
                runningMean[j] = (1 - momentum) * runningMean[j] + momentum * mean[j];
                runningVar[j] = (1 - momentum) * runningVar[j] + momentum * (float)(var_[j] / (n - 1));
            }
        }
        else
        {
            for (int j = 0; j < d; j++) { mean[j] = runningMean[j]; invStd[j] = 1f / MathF.Sqrt(runningVar[j] + eps); }
        }

        var xhat = new Tensor(n, d);
        var y = new Tensor(n, d);
        var g = gamma.Value.Span; var bt = beta.Value.Span;
        for (int r = 0; r < n; r++)
        {
            var xr = x.Value.Row(r); var hr = xhat.Row(r); var yr = y.Row(r);
            for (int j = 0; j < d; j++) { hr[j] = (xr[j] - mean[j]) * invStd[j]; yr[j] = g[j] * hr[j] + bt[j]; }
        }
        var output = Output(y, x, gamma, beta);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                var gy = output.Grad!;
                var sumG = new double[d];
                var sumGH = new double[d];
                for (int r = 0; r < n; r++)
                {
                    var gr = gy.Row(r); var hr = xhat.Row(r);
                    for (int j = 0; j < d; j++) { sumG[j] += gr[j]; sumGH[j] += gr[j] * hr[j]; }
                }
                if (gamma.RequiresGrad) { var gg = gamma.GradBuffer().Span; for (int j = 0; j < d; j++) gg[j] += (float)sumGH[j]; }
                if (beta.RequiresGrad) { var gb = beta.GradBuffer().Span; for (int j = 0; j < d; j++) gb[j] += (float)sumG[j]; }
                if (!x.RequiresGrad) return;
                var gx = x.GradBuffer();
                var gm = gamma.Value.Span;
                for (int r = 0; r < n; r++)
                {
                    var gr = gy.Row(r); var hr = xhat.Row(r); var gxr = gx.Row(r);
                    for (int j = 0; j < d; j++)
                    {
                        // Training: the batch statistics depend on x too; evaluation: they are constants.
                        float dx = training
                            ? (float)(gm[j] * invStd[j] * (gr[j] - sumG[j] / n - hr[j] * sumGH[j] / n))
                            : gm[j] * invStd[j] * gr[j];
                        gxr[j] += dx;
                    }
                }
            };
        return output;
    }
}
