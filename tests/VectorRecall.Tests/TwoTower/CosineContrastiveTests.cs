using VectorRecall.Autograd;
using VectorRecall.Numerics;
using VectorRecall.TwoTower;

namespace VectorRecall.Tests.TwoTower;

public class CosineContrastiveTests
{
    [Fact]
    public void ANegativeThatIsTheRowsOwnPositiveIsNotCounted()
    {
        // Unit vectors: user = e0; its positive (item 7) = e0 too, the negatives are item 7 again and item 3 (cos 0.6).
        var users = Tensor.FromArray([1, 0], 1, 2);
        var positives = Tensor.FromArray([1, 0], 1, 2);
        var negatives = Tensor.FromArray([1, 0, 0.6f, 0.8f], 2, 2);
        var loss = new CosineContrastiveLoss(margin: 0.5f, negativeWeight: 4f);
        // Positive: 1 − 1 = 0. Negatives: item 7 masked, item 3 gives 4/2 · (0.6 − 0.5) = 0.2.
        Assert.Equal(0.2f, loss.Forward(users, positives, [7], negatives, [7, 3], shared: true).Value[0], 5);
        Assert.Equal(0.2f, loss.Forward(users, positives, [7], negatives, [7, 3], shared: false).Value[0], 5);
        Assert.Equal(0f, loss.Forward(users, positives, [7], negatives, [7, 7], shared: true).Value[0], 5);
    }

    [Fact]
    public void SettingsOutsideTheirRangeAreRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new CosineContrastiveLoss(margin: 1f, negativeWeight: 1f));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CosineContrastiveLoss(margin: 0.5f, negativeWeight: -1f));
        Assert.ThrowsAny<ArgumentException>(() => new InfoNceOptions { Kind = LossKind.Ccl, NumNegatives = 0 }.Validate());
    }

    [Fact]
    public void TheGradientThroughTheLossIsCorrect()
    {
        var rng = new Rng(8);
        var loss = new CosineContrastiveLoss(margin: 0.1f, negativeWeight: 3f);
        // Scores of random unit rows rarely sit on a kink; the check perturbs the raw rows before normalising.
        GradCheck.Check(v => loss.Forward(Ops.L2NormalizeRows(v[0]), Ops.L2NormalizeRows(v[1]), [0, 1, 2], Ops.L2NormalizeRows(v[2]), [3, 4, 5, 6], shared: true),
            Tensor.Randn(rng, 1f, 3, 4), Tensor.Randn(rng, 1f, 3, 4), Tensor.Randn(rng, 1f, 4, 4));
    }
}
