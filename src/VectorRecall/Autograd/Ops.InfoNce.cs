using VectorRecall.Numerics;

namespace VectorRecall.Autograd;

internal static partial class Ops
{
    /// <summary>
    /// Mean over the B users of −log softmax(s / τ + shift)[r, r]: the cross-entropy of sampled softmax with
    /// in-batch negatives. s [B × (B + n)] holds user r's dot products with the B positives (candidate rows
    /// 0 .. B, column r its own) and then with its n sampled negatives: candidate rows B + r·n .. (grouped) or,
    /// when <paramref name="shared"/>, the n rows after the positives, scored by every user.
    /// One op where MatMul, GroupedDot, ConcatColumns, Scale, Add and CrossEntropy took six passes and five
    /// B × (B + n) buffers: the logits are written once, turned into probabilities in place, and the backward
    /// pass reads those as the logits' gradient (softmax − one-hot), feeding the same GEMMs MatMul's would.
    /// </summary>
    public static Variable InfoNce(Variable users, Variable candidates, bool shared, float inverseTemperature, Tensor shift)
    {
        var (b, n) = InfoNceShape(users, candidates, shared);
        int width = b + n;
        if (shift.Rank != 2 || shift.Rows != b || shift.Cols != width)
            throw new ArgumentException($"infonce: shift is {Tensor.ShapeString(shift.Shape)}, expected [{b}, {width}]");
        var p = New([b, width], clear: false);
        CandidateScores(users.Value, candidates.Value, b, n, shared, p);
        var rowLoss = new double[b];
        ForChunks(b, p.Length, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                var row = p.Row(r);
                TensorPrimitives.MultiplyAdd(row, inverseTemperature, shift.Row(r), row);
                float max = TensorPrimitives.Max(row), target = row[r];
                TensorPrimitives.Subtract(row, max, row);
                TensorPrimitives.Exp(row, row);
                float sum = TensorPrimitives.Sum(row);
                rowLoss[r] = Math.Log(sum) - (target - max);
                TensorPrimitives.Multiply(row, 1f / sum, row);
            }
        });
        double loss = 0;
        foreach (double l in rowLoss) loss += l;
        var output = Output(Scalar(b == 0 ? 0 : (float)(loss / b)), users, candidates);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                // d loss / d s = (softmax − one-hot) · g / (B·τ), made in place of the probabilities.
                float scale = output.Grad![0] / b * inverseTemperature;
                ForChunks(b, p.Length, (r0, r1) =>
                {
                    for (int r = r0; r < r1; r++)
                    {
                        p[r, r] -= 1f;
                        TensorPrimitives.Multiply(p.Row(r), scale, p.Row(r));
                    }
                });
                if (users.RequiresGrad) InfoNceUsersGrad(p, candidates.Value, b, n, shared, users.GradTarget());
                if (candidates.RequiresGrad) InfoNceCandidatesGrad(p, users.Value, b, n, shared, candidates.GradTarget());
            };
        return output;
    }

    /// <summary>B and n of <see cref="InfoNce"/>, checked.</summary>
    internal static (int B, int N) InfoNceShape(Variable users, Variable candidates, bool shared)
    {
        CheckMatrix(users, "infonce", "users");
        CheckMatrix(candidates, "infonce", "candidates");
        int b = users.Rows, rest = candidates.Rows - b;
        if (b == 0 || candidates.Cols != users.Cols || rest < 0 || (!shared && rest % b != 0))
            throw new ArgumentException($"infonce: {b} users of width {users.Cols} need {b} positives then {(shared ? "any number of shared" : $"a multiple of {b}")} negatives of that width; candidates are {candidates.Rows}x{candidates.Cols}");
        return (b, shared ? rest : rest / b);
    }

    /// <summary>The raw dot products s of <see cref="InfoNce"/> into <paramref name="s"/> [B × (B + n)].</summary>
    internal static void CandidateScores(Tensor users, Tensor candidates, int b, int n, bool shared, Tensor s)
    {
        int d = users.Cols, width = b + n;
        var c = candidates.Span;
        Gemm.Multiply(users.Span, d, false, c[..(b * d)], d, true, s.Span, width, b, b, d);
        if (n == 0) return;
        if (shared)
        {
            Gemm.Multiply(users.Span, d, false, c[(b * d)..], d, true, s.Span[b..], width, b, n, d);
            return;
        }
        ForChunks(b, (long)b * n * d, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                var row = s.Row(r);
                for (int j = 0; j < n; j++) row[b + j] = Distances.Dot(users.Row(r), candidates.Row(b + r * n + j));
            }
        });
    }

    /// <summary>users' gradient from the logits' gradient <paramref name="g"/>: g[:, :B]·positives + the negatives' share.</summary>
    private static void InfoNceUsersGrad(Tensor g, Tensor candidates, int b, int n, bool shared, (Tensor Buffer, bool Accumulate) target)
    {
        var (gu, accumulate) = target;
        int d = candidates.Cols, width = b + n;
        var c = candidates.Span;
        Gemm.Multiply(g.Span, width, false, c[..(b * d)], d, false, gu.Span, d, b, d, b, accumulate);
        if (n == 0) return;
        if (shared)
        {
            Gemm.Multiply(g.Span[b..], width, false, c[(b * d)..], d, false, gu.Span, d, b, d, n, accumulate: true);
            return;
        }
        ForChunks(b, (long)b * n * d, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
                for (int j = 0; j < n; j++) TensorPrimitives.MultiplyAdd(candidates.Row(b + r * n + j), g[r, b + j], gu.Row(r), gu.Row(r));
        });
    }

    /// <summary>The candidates' gradient from the logits' gradient <paramref name="g"/>: g[:, :B]ᵀ·users for the positives, then the negatives'.</summary>
    private static void InfoNceCandidatesGrad(Tensor g, Tensor users, int b, int n, bool shared, (Tensor Buffer, bool Accumulate) target)
    {
        var (gc, accumulate) = target;
        int d = users.Cols, width = b + n;
        Gemm.Multiply(g.Span, width, true, users.Span, d, false, gc.Span[..(b * d)], d, b, d, b, accumulate);
        if (n == 0) return;
        if (shared)
        {
            Gemm.Multiply(g.Span[b..], width, true, users.Span, d, false, gc.Span[(b * d)..], d, n, d, b, accumulate);
            return;
        }
        ForChunks(b, (long)b * n * d, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
                for (int j = 0; j < n; j++)
                {
                    var into = gc.Row(b + r * n + j);
                    if (accumulate) TensorPrimitives.MultiplyAdd(users.Row(r), g[r, b + j], into, into);
                    else TensorPrimitives.Multiply(users.Row(r), g[r, b + j], into);
                }
        });
    }
}
