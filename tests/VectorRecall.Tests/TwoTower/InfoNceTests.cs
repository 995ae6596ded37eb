using VectorRecall.Training;
using VectorRecall.Autograd;
using VectorRecall.Numerics;
using VectorRecall.TwoTower;

namespace VectorRecall.Tests.TwoTower;

public class InfoNceTests
{
    [Fact]
    public void LossAndGradientMatchAHandComputedCase()
    {
        // Two users, their positives, one sampled negative each; τ = 0.5, no correction, no masking.
        var u = new Variable(Tensor.FromArray([1, 0, 0, 1], 2, 2), requiresGrad: true);
        // Candidates: positives p0 = (1, 0), p1 = (0.6, 0.8), then negatives n0 = (0, 1), n1 = (−1, 0).
        var candidates = new Variable(Tensor.FromArray([1, 0, 0.6f, 0.8f, 0, 1, -1, 0], 4, 2));
        var loss = new InfoNceLoss(0.5f, logQCorrection: false, maskAccidentalHits: false);
        using var tape = new Tape();
        var l = loss.Forward(u, candidates, [0, 1, 2, 3], [], []);
        tape.Backward(l);

        // Row 0 logits: [u0·p0, u0·p1, u0·n0] / τ = [1, 0.6, 0] / 0.5; row 1: [0, 0.8, 0] / 0.5.
        double[][] logits = [[2, 1.2, 0], [0, 1.6, 0]];
        int[] target = [0, 1];
        double expected = 0;
        var grad = new double[2, 2];
        double[][] candidates0 = [[1, 0], [0.6, 0.8], [0, 1]];
        double[][] candidates1 = [[1, 0], [0.6, 0.8], [-1, 0]];
        for (int r = 0; r < 2; r++)
        {
            double z = logits[r].Sum(Math.Exp);
            expected += -(logits[r][target[r]] - Math.Log(z)) / 2;
            var cands = r == 0 ? candidates0 : candidates1;
            for (int j = 0; j < 3; j++)
            {
                double coeff = (Math.Exp(logits[r][j]) / z - (j == target[r] ? 1 : 0)) / 2 / 0.5;
                grad[r, 0] += coeff * cands[j][0];
                grad[r, 1] += coeff * cands[j][1];
            }
        }
        Assert.Equal(expected, l.Value[0], 5);
        for (int r = 0; r < 2; r++)
            for (int c = 0; c < 2; c++) Assert.Equal(grad[r, c], u.Grad![r, c], 5);
    }

    [Fact]
    public void LogQCorrectionSubtractsExactlyLogQ()
    {
        var rng = new Rng(2);
        var u = new Variable(Tensor.Randn(rng, 1f, 3, 4));
        var candidates = new Variable(Tensor.Randn(rng, 1f, 3 + 6, 4));
        float[] qPos = [-2f, -3.5f, -0.25f], qNeg = [-1f, -2f, -3f, -4f, -5f, -6f];
        int[] ids = [10, 11, 12, 20, 21, 22, 23, 24, 25];
        var plain = new InfoNceLoss(0.1f, logQCorrection: false).Logits(u, candidates, ids, qPos, qNeg);
        var corrected = new InfoNceLoss(0.1f, logQCorrection: true).Logits(u, candidates, ids, qPos, qNeg);
        for (int r = 0; r < 3; r++)
        {
            for (int j = 0; j < 3; j++) Assert.Equal(-qPos[j], corrected[r, j] - plain[r, j], 5);
            for (int j = 0; j < 2; j++) Assert.Equal(-qNeg[r * 2 + j], corrected[r, 3 + j] - plain[r, 3 + j], 5);
        }
    }

    [Fact]
    public void AccidentalHitsAreMasked()
    {
        var rng = new Rng(3);
        var u = new Variable(Tensor.Randn(rng, 1f, 3, 4));
        var candidates = new Variable(Tensor.Randn(rng, 1f, 6, 4));
        // Rows 0 and 2 share positive item 7; row 1's sampled negative is its own positive 8.
        var logits = new InfoNceLoss(0.1f, logQCorrection: false).Logits(u, candidates, [7, 8, 7, 1, 8, 2], [], []);
        Assert.True(logits[0, 2] < -1e8 && logits[2, 0] < -1e8, "the other row's copy of the same positive is masked");
        Assert.True(logits[0, 0] > -1e8 && logits[2, 2] > -1e8, "each row's own positive is kept");
        Assert.True(logits[1, 3] < -1e8, "a sampled negative equal to the positive is masked");
        Assert.True(logits[0, 3] > -1e8 && logits[2, 3] > -1e8);
    }

    [Fact]
    public void SharedNegativesEqualEachRowHavingTheSameOnes()
    {
        var rng = new Rng(4);
        var u = new Variable(Tensor.Randn(rng, 1f, 3, 4));
        var p = Tensor.Randn(rng, 1f, 3, 4);
        var shared = Tensor.Randn(rng, 1f, 2, 4);
        var withShared = new Tensor(3 + 2, 4);
        var withRepeated = new Tensor(3 + 6, 4);
        p.Span.CopyTo(withShared.Span);
        p.Span.CopyTo(withRepeated.Span);
        shared.Span.CopyTo(withShared.RowRange(3, 2).Span);
        for (int r = 0; r < 6; r++) shared.Row(r % 2).CopyTo(withRepeated.Row(3 + r));
        float[] qPos = [-1f, -2f, -3f], qShared = [-4f, -5f];
        // Row 1's positive (9) is also shared negative 0: masked there, as for per-row negatives.
        var loss = new InfoNceLoss(0.2f);
        var a = loss.Logits(u, withShared, [8, 9, 10, 9, 30], qPos, qShared, shared: true).ToArray();
        var b = loss.Logits(u, withRepeated, [8, 9, 10, 9, 30, 9, 30, 9, 30], qPos, [.. qShared, .. qShared, .. qShared]).ToArray();
        Assert.Equal(b.Length, a.Length);
        for (int i = 0; i < a.Length; i++) Assert.Equal(b[i], a[i], 4);
        Assert.True(a[1 * 5 + 3] < -1e8);
        Assert.Throws<ArgumentException>(() => loss.Logits(u, withShared, [8, 9, 10, 9, 30], qPos, [-1f], shared: true));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void FusedLossPassesAGradientCheck(bool shared)
    {
        var rng = new Rng(5);
        int b = 3, n = 2, rows = b + (shared ? n : b * n);
        var shift = Tensor.Randn(rng, 0.5f, rows).ToArray();
        int[] masked = [1 * (b + n) + b];
        GradCheck.Check(v => Ops.InfoNce(v[0], v[1], shared, 1f / 0.7f, shift, masked), 1e-2f,
            Tensor.Randn(rng, 0.5f, b, 4), Tensor.Randn(rng, 0.5f, rows, 4));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void FusedLossEqualsTheOpsItReplaces(bool shared)
    {
        var rng = new Rng(6);
        int b = 5, n = 3, d = 8, rows = b + (shared ? n : b * n);
        var uValue = Tensor.Randn(rng, 1f, b, d);
        var cValue = Tensor.Randn(rng, 1f, rows, d);
        var candidateShift = Tensor.Randn(rng, 1f, rows).ToArray();
        int[] masked = [2 * (b + n), 3 * (b + n) + b + 1];
        // The same terms as one [B × (B + n)] tensor to add to the scaled scores.
        var shift = new Tensor(b, b + n);
        for (int r = 0; r < b; r++)
            for (int c = 0; c < b + n; c++) shift[r, c] = candidateShift[c < b ? c : b + (shared ? 0 : r * n) + c - b];
        foreach (int at in masked) shift.Span[at] = InfoNceLoss.MaskedLogit;
        int[] targets = [.. Enumerable.Range(0, b)];

        var (u1, c1) = (new Variable(uValue.Clone(), requiresGrad: true), new Variable(cValue.Clone(), requiresGrad: true));
        Variable fused;
        using (var tape = new Tape())
        {
            fused = Ops.InfoNce(u1, c1, shared, 1f / 0.1f, candidateShift, masked);
            tape.Backward(fused);
        }
        var (u2, c2) = (new Variable(uValue.Clone(), requiresGrad: true), new Variable(cValue.Clone(), requiresGrad: true));
        Variable composed;
        using (var tape = new Tape())
        {
            var positives = Ops.SliceRows(c2, 0, b);
            var negatives = Ops.SliceRows(c2, b, rows - b);
            var s = Ops.ConcatColumns(Ops.MatMul(u2, positives, transposeB: true),
                shared ? Ops.MatMul(u2, negatives, transposeB: true) : Ops.GroupedDot(u2, negatives));
            composed = Ops.CrossEntropy(Ops.Add(Ops.Scale(s, 1f / 0.1f), new Variable(shift)), targets);
            tape.Backward(composed);
        }
        // Within a tolerance, not rounded to four places: two values 2e-7 apart can round to different fourth digits.
        Assert.Equal(composed.Value[0], fused.Value[0], 1e-4);
        for (int i = 0; i < uValue.Length; i++) Assert.Equal(u2.Grad!.Span[i], u1.Grad!.Span[i], 1e-4);
        for (int i = 0; i < cValue.Length; i++) Assert.Equal(c2.Grad!.Span[i], c1.Grad!.Span[i], 1e-4);
    }

    [Fact]
    public void FusedLossRefusesCandidatesThatDoNotDivideAndTermsThatDoNotFit()
    {
        var u = new Variable(new Tensor(3, 4));
        Assert.Throws<ArgumentException>(() => Ops.InfoNce(u, new Variable(new Tensor(2, 4)), false, 1f, [], []));
        Assert.Throws<ArgumentException>(() => Ops.InfoNce(u, new Variable(new Tensor(7, 4)), false, 1f, [], []));
        Assert.Throws<ArgumentException>(() => Ops.InfoNce(u, new Variable(new Tensor(9, 5)), false, 1f, [], []));
        Assert.Throws<ArgumentException>(() => Ops.InfoNce(u, new Variable(new Tensor(9, 4)), false, 1f, new float[8], []));
        Assert.Throws<ArgumentException>(() => Ops.InfoNce(u, new Variable(new Tensor(9, 4)), false, 1f, [], [3, 2]));
        Assert.Throws<ArgumentException>(() => Ops.InfoNce(u, new Variable(new Tensor(9, 4)), false, 1f, [], [15]));
    }
}
