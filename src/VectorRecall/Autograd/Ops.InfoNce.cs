using VectorRecall.Numerics;

namespace VectorRecall.Autograd;

internal static partial class Ops
{
    /// <summary>
    /// Mean over the B users of −log softmax(z)[r, r]: the cross-entropy of sampled softmax with in-batch negatives.
    /// The logits z [B × (B + n)] are s / τ plus each candidate's <paramref name="candidateShift"/> (−log q under the
    /// logQ correction; empty for none), with the entries listed in <paramref name="masked"/> (flat indices r·(B + n) + c,
    /// ascending) set to <see cref="MaskedLogit"/>. s holds user r's dot products with the B positives (candidate rows
    /// 0 .. B, column r its own) and then with its n sampled negatives: candidate rows B + r·n .. (grouped) or, when
    /// <paramref name="shared"/>, the n rows after the positives, scored by every user.
    /// One op where MatMul, GroupedDot, ConcatColumns, Scale, Add and CrossEntropy took six passes and five
    /// B × (B + n) buffers: the logits are written once, turned into probabilities in place, and the backward
    /// pass reads those as the logits' gradient (softmax − one-hot), feeding the same GEMMs MatMul's would.
    /// </summary>
    public static Variable InfoNce(Variable users, Variable candidates, bool shared, float inverseTemperature, float[] candidateShift, int[] masked)
    {
        var (b, n) = InfoNceShape(users, candidates, shared);
        int width = b + n;
        CheckLogitTerms(candidates.Rows, b * width, candidateShift, masked);
        var p = New([b, width], clear: false);
        CandidateScores(users.Value, candidates.Value, b, n, shared, p);
        var rowLoss = new double[b];
        ForChunks(b, p.Length, (r0, r1) =>
        {
            int m = LowerBound(masked, r0 * width);
            for (int r = r0; r < r1; r++)
            {
                var row = p.Row(r);
                LogitsRow(row, r, b, n, shared, inverseTemperature, candidateShift, masked, ref m);
                float target = row[r];
                var (max, sum) = RowKernels.Softmax(row);
                rowLoss[r] = Math.Log(sum) - (target - max);
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
                        RowKernels.Scale(p.Row(r), scale, p.Row(r));
                    }
                });
                InfoNceBackward(p, users, candidates, b, n, shared);
            };
        return output;
    }

    /// <summary>Added to a masked logit; its softmax weight is exactly zero in float arithmetic.</summary>
    public const float MaskedLogit = -1e9f;

    /// <summary>The logits of <see cref="InfoNce"/> for all B users, as a plain tensor.</summary>
    internal static Tensor InfoNceLogits(Variable users, Variable candidates, bool shared, float inverseTemperature, float[] candidateShift, int[] masked)
    {
        var (b, n) = InfoNceShape(users, candidates, shared);
        CheckLogitTerms(candidates.Rows, b * (b + n), candidateShift, masked);
        var z = new Tensor(b, b + n);
        CandidateScores(users.Value, candidates.Value, b, n, shared, z);
        int m = 0;
        for (int r = 0; r < b; r++) LogitsRow(z.Row(r), r, b, n, shared, inverseTemperature, candidateShift, masked, ref m);
        return z;
    }

    private static void CheckLogitTerms(int candidates, int logits, float[] candidateShift, int[] masked)
    {
        if (candidateShift.Length != 0 && candidateShift.Length != candidates)
            throw new ArgumentException($"infonce: {candidateShift.Length} candidate shifts for {candidates} candidates");
        for (int i = 0; i < masked.Length; i++)
            if ((uint)masked[i] >= (uint)logits || (i > 0 && masked[i] <= masked[i - 1]))
                throw new ArgumentException($"infonce: masked entry {masked[i]} at {i} is out of order or outside the {logits} logits");
    }

    /// <summary>
    /// Row r of the logits from its scores, in place: s / τ + the candidates' shifts, then the masked entries, whose
    /// flat indices start at masked[<paramref name="next"/>] (advanced past the row).
    /// </summary>
    private static void LogitsRow(Span<float> row, int r, int b, int n, bool shared, float inverseTemperature, float[] candidateShift, int[] masked, ref int next)
    {
        if (candidateShift.Length == 0) TensorPrimitives.Multiply(row, inverseTemperature, row);
        else
        {
            TensorPrimitives.MultiplyAdd(row[..b], inverseTemperature, candidateShift.AsSpan(0, b), row[..b]);
            TensorPrimitives.MultiplyAdd(row[b..], inverseTemperature, candidateShift.AsSpan(b + (shared ? 0 : r * n), n), row[b..]);
        }
        int start = r * row.Length, end = start + row.Length;
        for (; next < masked.Length && masked[next] < end; next++) row[masked[next] - start] = MaskedLogit;
    }

    /// <summary>The first position in ascending <paramref name="values"/> holding at least <paramref name="value"/>.</summary>
    private static int LowerBound(int[] values, int value)
    {
        int at = Array.BinarySearch(values, value);
        return at >= 0 ? at : ~at;
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
    private static void CandidateScores(Tensor users, Tensor candidates, int b, int n, bool shared, Tensor s)
    {
        int d = users.Cols, width = b + n;
        var c = candidates.Span;
        Gemm.Multiply(users.Span, d, false, c[..(b * d)], d, true, s.Span, width, b, b, d);
        if (n == 0) return;
        if (shared) Gemm.Multiply(users.Span, d, false, c[(b * d)..], d, true, s.Span[b..], width, b, n, d);
        else GroupedDots(users, candidates, b, n, s, b);
    }

    /// <summary>
    /// Both inputs' gradients from the logits' gradient <paramref name="g"/>: for the positives the GEMMs MatMul's backward
    /// runs (users += g[:, :B]·positives, positives (+)= g[:, :B]ᵀ·users), then the negatives' share the same way when
    /// shared, or the grouped dot's backward.
    /// </summary>
    private static void InfoNceBackward(Tensor g, Variable users, Variable candidates, int b, int n, bool shared)
    {
        int d = users.Cols, width = b + n;
        var (u, c) = (users.Value, candidates.Value);
        Tensor? gu = null, gc = null;
        bool accumulateC = false;
        if (users.RequiresGrad)
        {
            (gu, bool accumulate) = users.GradTarget();
            Gemm.Multiply(g.Span, width, false, c.Span[..(b * d)], d, false, gu.Span, d, b, d, b, accumulate);
        }
        if (candidates.RequiresGrad)
        {
            (gc, accumulateC) = candidates.GradTarget();
            Gemm.Multiply(g.Span, width, true, u.Span, d, false, gc.Span[..(b * d)], d, b, d, b, accumulateC);
        }
        if (n == 0) return;
        if (!shared)
        {
            GroupedDotsBackward(u, c, b, n, g, b, gu, gc, overwriteGg: !accumulateC);
            return;
        }
        if (gu is not null) Gemm.Multiply(g.Span[b..], width, false, c.Span[(b * d)..], d, false, gu.Span, d, b, d, n, accumulate: true);
        if (gc is not null) Gemm.Multiply(g.Span[b..], width, true, u.Span, d, false, gc.Span[(b * d)..], d, n, d, b, accumulateC);
    }
}
