using VectorRecall.Numerics;

namespace VectorRecall.Autograd;

public static partial class Ops
{
    /// <summary>Row-wise log-softmax of [rows × classes].</summary>
    public static Variable LogSoftmax(Variable x)
    {
        CheckMatrix(x, "log-softmax");
        var y = Like(x.Value);
        for (int r = 0; r < x.Rows; r++) LogSoftmaxRow(x.Value.Row(r), y.Row(r));
        var output = Output(y, x);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                var gy = output.Grad!; var gx = x.GradBuffer();
                for (int r = 0; r < x.Rows; r++)
                {
                    var gyr = gy.Row(r); var yr = y.Row(r); var gxr = gx.Row(r);
                    float total = TensorPrimitives.Sum(gyr);
                    for (int j = 0; j < gxr.Length; j++) gxr[j] += gyr[j] - MathF.Exp(yr[j]) * total;
                }
            };
        return output;
    }

    /// <summary>
    /// Mean over rows of −log softmax(logits)[target] (<c>F.cross_entropy</c> with class indices).
    /// Softmax and log are fused, so large logits do not overflow.
    /// </summary>
    public static Variable CrossEntropy(Variable logits, int[] targets)
    {
        CheckMatrix(logits, "cross-entropy", "logits");
        int n = logits.Rows, c = logits.Cols;
        if (targets.Length != n) throw new ArgumentException($"cross-entropy: {targets.Length} targets for {n} rows");
        var logp = Like(logits.Value);
        double loss = 0;
        for (int r = 0; r < n; r++)
        {
            if ((uint)targets[r] >= (uint)c) throw new ArgumentOutOfRangeException(nameof(targets), $"cross-entropy: target {targets[r]} in row {r} is outside [0, {c})");
            LogSoftmaxRow(logits.Value.Row(r), logp.Row(r));
            loss -= logp[r, targets[r]];
        }
        var output = Output(Scalar(n == 0 ? 0 : (float)(loss / n)), logits);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                float scale = output.Grad![0] / n;
                var gx = logits.GradBuffer();
                for (int r = 0; r < n; r++)
                {
                    var lr = logp.Row(r); var gr = gx.Row(r);
                    for (int j = 0; j < c; j++) gr[j] += scale * MathF.Exp(lr[j]);
                    gr[targets[r]] -= scale;
                }
            };
        return output;
    }

    /// <summary>Mean binary cross-entropy of logits against targets in [0, 1], computed stably.</summary>
    public static Variable BinaryCrossEntropyWithLogits(Variable logits, Tensor targets)
    {
        if (!logits.Value.SameShape(targets)) throw new ArgumentException($"bce: logits {logits.Value} and targets {targets} differ in shape");
        var x = logits.Value.Span; var t = targets.Span;
        double loss = 0;
        for (int i = 0; i < x.Length; i++)
            loss += Math.Max(x[i], 0) - x[i] * t[i] + Math.Log(1 + Math.Exp(-Math.Abs(x[i])));
        int count = x.Length;
        var output = Output(Scalar(count == 0 ? 0 : (float)(loss / count)), logits);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                float scale = output.Grad![0] / count;
                var gx = logits.GradBuffer().Span; var xv = logits.Value.Span; var tv = targets.Span;
                for (int i = 0; i < gx.Length; i++) gx[i] += scale * (1f / (1f + MathF.Exp(-xv[i])) - tv[i]);
            };
        return output;
    }

    /// <summary>Mean squared error between two tensors of one shape; both may carry gradients.</summary>
    public static Variable Mse(Variable prediction, Variable target)
    {
        CheckSameShape(prediction, target, "mse");
        var p = prediction.Value.Span; var t = target.Value.Span;
        double loss = 0;
        for (int i = 0; i < p.Length; i++) { double d = p[i] - t[i]; loss += d * d; }
        int count = p.Length;
        var output = Output(Scalar(count == 0 ? 0 : (float)(loss / count)), prediction, target);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                float scale = 2f * output.Grad![0] / count;
                var pv = prediction.Value.Span; var tv = target.Value.Span;
                Span<float> gp = prediction.RequiresGrad ? prediction.GradBuffer().Span : default;
                Span<float> gt = target.RequiresGrad ? target.GradBuffer().Span : default;
                for (int i = 0; i < pv.Length; i++)
                {
                    float d = scale * (pv[i] - tv[i]);
                    if (prediction.RequiresGrad) gp[i] += d;
                    if (target.RequiresGrad) gt[i] -= d;
                }
            };
        return output;
    }

    private static void LogSoftmaxRow(ReadOnlySpan<float> x, Span<float> y)
    {
        float max = TensorPrimitives.Max(x);
        TensorPrimitives.Subtract(x, max, y);
        double sum = 0;
        foreach (float v in y) sum += Math.Exp(v);
        TensorPrimitives.Subtract(y, (float)Math.Log(sum), y);
    }
}
