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
        var p = new Variable(Tensor.FromArray([1, 0, 0.6f, 0.8f], 2, 2));
        var n = new Variable(Tensor.FromArray([0, 1, -1, 0], 2, 2));
        var loss = new InfoNceLoss(0.5f, logQCorrection: false, maskAccidentalHits: false);
        using var tape = new Tape();
        var l = loss.Forward(u, p, [0, 1], [], n, [2, 3], []);
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
        var p = new Variable(Tensor.Randn(rng, 1f, 3, 4));
        var n = new Variable(Tensor.Randn(rng, 1f, 6, 4));
        float[] qPos = [-2f, -3.5f, -0.25f], qNeg = [-1f, -2f, -3f, -4f, -5f, -6f];
        int[] posIds = [10, 11, 12], negIds = [20, 21, 22, 23, 24, 25];
        var plain = new InfoNceLoss(0.1f, logQCorrection: false).Logits(u, p, posIds, qPos, n, negIds, qNeg).Value;
        var corrected = new InfoNceLoss(0.1f, logQCorrection: true).Logits(u, p, posIds, qPos, n, negIds, qNeg).Value;
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
        var p = new Variable(Tensor.Randn(rng, 1f, 3, 4));
        var n = new Variable(Tensor.Randn(rng, 1f, 3, 4));
        // Rows 0 and 2 share positive item 7; row 1's sampled negative is its own positive 8.
        var logits = new InfoNceLoss(0.1f, logQCorrection: false).Logits(u, p, [7, 8, 7], [], n, [1, 8, 2], []).Value;
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
        var p = new Variable(Tensor.Randn(rng, 1f, 3, 4));
        var shared = Tensor.Randn(rng, 1f, 2, 4);
        var repeated = new Tensor(6, 4);
        for (int r = 0; r < 6; r++) shared.Row(r % 2).CopyTo(repeated.Row(r));
        float[] qPos = [-1f, -2f, -3f], qShared = [-4f, -5f];
        // Row 1's positive (9) is also shared negative 0: masked there, as for per-row negatives.
        var loss = new InfoNceLoss(0.2f);
        var a = loss.Logits(u, p, [8, 9, 10], qPos, new Variable(shared), [9, 30], qShared, shared: true).Value.ToArray();
        var b = loss.Logits(u, p, [8, 9, 10], qPos, new Variable(repeated), [9, 30, 9, 30, 9, 30], [.. qShared, .. qShared, .. qShared]).Value.ToArray();
        Assert.Equal(b.Length, a.Length);
        for (int i = 0; i < a.Length; i++) Assert.Equal(b[i], a[i], 4);
        Assert.True(a[1 * 5 + 3] < -1e8);
        Assert.Throws<ArgumentException>(() => loss.Logits(u, p, [8, 9, 10], qPos, new Variable(shared), [9, 30], [-1f], shared: true));
    }
}
