using VectorRecall.Numerics;

namespace VectorRecall.Autograd;

internal static partial class Ops
{
    /// <summary>Row-wise log-softmax of [rows × classes].</summary>
    public static Variable LogSoftmax(Variable x)
    {
        CheckMatrix(x, "log-softmax");
        var y = New(x.Shape, clear: false);
        var scratch = new float[x.Cols];
        for (int r = 0; r < x.Rows; r++) LogSoftmaxRow(x.Value.Row(r), y.Row(r), scratch);
        var output = Output(y, x);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                var gy = output.Grad!; var gx = x.GradBuffer();
                var softmax = new float[x.Cols];
                for (int r = 0; r < x.Rows; r++)
                {
                    var gyr = gy.Row(r); var gxr = gx.Row(r);
                    // dx = g − softmax·Σg
                    TensorPrimitives.Exp(y.Row(r), softmax);
                    TensorPrimitives.Add(gxr, gyr, gxr);
                    TensorPrimitives.MultiplyAdd(softmax, -TensorPrimitives.Sum(gyr), gxr, gxr);
                }
            };
        return output;
    }

    /// <summary>
    /// Mean over rows of −log softmax(logits)[target] (<c>F.cross_entropy</c> with class indices).
    /// Softmax and log are fused, so large logits do not overflow. The forward pass keeps each row's exp(x − max) and
    /// its sum, so the backward pass is one sweep, (exp/sum − onehot)·scale: a sequence model's loss over every item
    /// (a thousand rows of twelve thousand logits, 50 MB) took four passes forward and two back through TensorPrimitives,
    /// whose Exp runs 2.5–3× slower inside a training process (see <see cref="RowKernels.Softmax"/>).
    /// </summary>
    public static Variable CrossEntropy(Variable logits, int[] targets)
    {
        CheckMatrix(logits, "cross-entropy", "logits");
        int n = logits.Rows, c = logits.Cols;
        if (targets.Length != n) throw new ArgumentException($"cross-entropy: {targets.Length} targets for {n} rows");
        for (int r = 0; r < n; r++)
            if ((uint)targets[r] >= (uint)c) throw new ArgumentOutOfRangeException(nameof(targets), $"cross-entropy: target {targets[r]} in row {r} is outside [0, {c})");
        var weights = New(logits.Value.Shape, clear: false);
        var sums = new float[n];
        var rowLoss = new float[n];
        ForChunks(n, weights.Length, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                var x = logits.Value.Row(r);
                var (max, sum) = RowKernels.ExpAboutMax(x, weights.Row(r));
                sums[r] = sum;
                rowLoss[r] = max + MathF.Log(sum) - x[targets[r]];
            }
        });
        double loss = 0;
        for (int r = 0; r < n; r++) loss += rowLoss[r];
        var output = Output(Scalar(n == 0 ? 0 : (float)(loss / n)), logits);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                float scale = output.Grad![0] / n;
                var (gx, accumulate) = logits.GradTarget();
                ForChunks(n, gx.Length, (r0, r1) =>
                {
                    for (int r = r0; r < r1; r++)
                    {
                        var gr = gx.Row(r);
                        // d/dlogits of −log softmax[target] = softmax − onehot(target)
                        if (accumulate) RowKernels.AddScaled(weights.Row(r), scale / sums[r], gr);
                        else RowKernels.Scale(weights.Row(r), scale / sums[r], gr);
                        gr[targets[r]] -= scale;
                    }
                });
            };
        return output;
    }

    /// <summary>
    /// SimpleX's cosine contrastive loss (Mao et al., 2021), averaged over rows: for row r with positive
    /// similarity p [B × 1] and negative similarities s [B × n],
    /// max(0, 1 − p_r) + w / n · Σ_j max(0, s_rj − m). Only negatives closer than the margin m contribute,
    /// so most of a large sample costs nothing but its GEMM, and the weight w balances the two sides.
    /// A negative at or below −1 (a masked one) never counts.
    /// </summary>
    public static Variable CosineContrastive(Variable positive, Variable negative, float margin, float negativeWeight)
    {
        CheckMatrix(positive, "cosine contrastive", "positive");
        CheckMatrix(negative, "cosine contrastive", "negative");
        int b = positive.Rows, n = negative.Cols;
        if (positive.Cols != 1 || negative.Rows != b) throw new ArgumentException($"cosine contrastive: positive is {positive.Rows}x{positive.Cols} and negative {negative.Rows}x{n}; expected {b}x1 and {b}xn");
        float w = n == 0 ? 0 : negativeWeight / n;
        double loss = 0;
        for (int r = 0; r < b; r++)
        {
            loss += Math.Max(0f, 1f - positive.Value[r, 0]);
            float sum = 0;
            foreach (float s in negative.Value.Row(r)) sum += Math.Max(0f, s - margin);
            loss += w * sum;
        }
        var output = Output(Scalar(b == 0 ? 0 : (float)(loss / b)), positive, negative);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                float scale = output.Grad![0] / b;
                if (positive.RequiresGrad)
                {
                    var gp = positive.GradBuffer();
                    for (int r = 0; r < b; r++) if (positive.Value[r, 0] < 1f) gp[r, 0] -= scale;
                }
                if (!negative.RequiresGrad) return;
                var gn = negative.GradBuffer();
                float step = scale * w;
                ForChunks(b, negative.Value.Length, (r0, r1) =>
                {
                    for (int r = r0; r < r1; r++)
                    {
                        var s = negative.Value.Row(r); var g = gn.Row(r);
                        for (int j = 0; j < s.Length; j++) if (s[j] > margin) g[j] += step;
                    }
                });
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

    /// <summary>Mean absolute error between two tensors of one shape (<c>F.l1_loss</c>); the gradient at a tie is 0.</summary>
    public static Variable L1(Variable prediction, Variable target)
    {
        CheckSameShape(prediction, target, "l1");
        var p = prediction.Value.Span; var t = target.Value.Span;
        double loss = 0;
        for (int i = 0; i < p.Length; i++) loss += Math.Abs(p[i] - t[i]);
        int count = p.Length;
        var output = Output(Scalar(count == 0 ? 0 : (float)(loss / count)), prediction, target);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                float scale = output.Grad![0] / count;
                var pv = prediction.Value.Span; var tv = target.Value.Span;
                Span<float> gp = prediction.RequiresGrad ? prediction.GradBuffer().Span : default;
                Span<float> gt = target.RequiresGrad ? target.GradBuffer().Span : default;
                for (int i = 0; i < pv.Length; i++)
                {
                    float d = scale * MathF.Sign(pv[i] - tv[i]);
                    if (prediction.RequiresGrad) gp[i] += d;
                    if (target.RequiresGrad) gt[i] -= d;
                }
            };
        return output;
    }

    /// <summary>y = x − logsumexp(x), shifted by the maximum so nothing overflows (the exponentials as cross-entropy takes them); <paramref name="scratch"/> is as long as x.</summary>
    private static void LogSoftmaxRow(ReadOnlySpan<float> x, Span<float> y, Span<float> scratch)
    {
        var (max, sum) = RowKernels.ExpAboutMax(x, scratch);
        TensorPrimitives.Subtract(x, max + MathF.Log(sum), y);
    }
}
