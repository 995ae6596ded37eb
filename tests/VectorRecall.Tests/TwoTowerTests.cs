using VectorRecall.Autograd;
using VectorRecall.Data;
using VectorRecall.Indexing;
using VectorRecall.IO;
using VectorRecall.Numerics;
using VectorRecall.Serving;
using VectorRecall.TwoTower;
using VectorRecall.Retrieval;
using VectorRecall.Towers;

namespace VectorRecall.Tests;

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

public class SyntheticDataTests
{
    private static readonly SyntheticOptions Small = new() { NumUsers = 200, NumItems = 1000, NumInteractions = 6000, Seed = 3 };

    [Fact]
    public void SameSeedSameData()
    {
        var a = SyntheticGenerator.Generate(Small).Dataset;
        var b = SyntheticGenerator.Generate(Small).Dataset;
        Assert.Equal(a.Train.Items, b.Train.Items);
        Assert.Equal(a.Test.Items, b.Test.Items);
        Assert.Equal(a.Items.Tags, b.Items.Tags);
        Assert.Equal(a.UserFeatures.ToArray(), b.UserFeatures.ToArray());
        var c = SyntheticGenerator.Generate(Small with { Seed = 4 }).Dataset;
        Assert.NotEqual(a.Train.Items, c.Train.Items);
    }

    [Fact]
    public void HasTheRequestedSizesAndStructure()
    {
        var d = SyntheticGenerator.Generate(Small).Dataset;
        Assert.Equal(6000, d.InteractionCount);
        Assert.Equal(200, d.UserCount);
        for (int u = 0; u < d.UserCount; u++)
        {
            Assert.True(d.Validation.CountOf(u) >= 1 && d.Test.CountOf(u) >= 1 && d.Train.CountOf(u) >= 1);
            var all = d.Train.Of(u).ToArray().Concat(d.Validation.Of(u).ToArray()).Concat(d.Test.Of(u).ToArray()).ToArray();
            Assert.Equal(all.Length, all.Distinct().Count());  // one interaction per user and item
        }
        for (int i = 0; i < d.ItemCount; i++) Assert.InRange(d.Items.TagsOf(i).Length, 3, 8);
        // Popularity is skewed: the top 1% of items take far more than 1% of interactions.
        var counts = d.Train.ItemCounts(d.ItemCount).OrderDescending().ToArray();
        Assert.True(counts.Take(10).Sum() > 0.03 * d.Train.Count);
    }

    [Fact]
    public void RejectsImpossibleSizes()
    {
        // The library names the property; the CLI names the flag that sets it.
        var e = Assert.Throws<SettingException>(() => SyntheticGenerator.Generate(Small with { NumInteractions = 100 }));
        Assert.Equal("NumInteractions", e.Property);
        Assert.StartsWith("--num-interactions (100) must be at least 3 per user", VectorRecall.Cli.Commands.CliErrors.Describe(e));
        Assert.Equal("NumUsers", Assert.Throws<SettingException>(() => SyntheticGenerator.Generate(Small with { NumUsers = 1 })).Property);
        Assert.Equal("--lr", VectorRecall.Cli.Commands.CliErrors.FlagOf("LearningRate"));
        Assert.Equal("--e-dim", VectorRecall.Cli.Commands.CliErrors.FlagOf("EDim"));
        Assert.Equal("--num-emb-list", VectorRecall.Cli.Commands.CliErrors.FlagOf("NumEmbList"));
    }
}

public class RankingMetricsTests
{
    [Fact]
    public void MatchesHandComputedValues()
    {
        var m = new RankingMetrics([1, 3]);
        // Relevant {5, 9}; ranking 7, 5, 9: hits at ranks 2 and 3.
        m.Add([7, 5, 9], new HashSet<int> { 5, 9 });
        Assert.Equal(0, m.Get(RankingMetric.Hit, 1));
        Assert.Equal(1, m.Get(RankingMetric.Hit, 3));
        Assert.Equal(1, m.Get(RankingMetric.Recall, 3));
        Assert.Equal(2.0 / 3, m.Get(RankingMetric.Precision, 3), 10);
        Assert.Equal(0.5, m.Get(RankingMetric.Mrr, 3), 10);
        double dcg = 1 / Math.Log2(3) + 1 / Math.Log2(4), idcg = 1 + 1 / Math.Log2(3);
        Assert.Equal(dcg / idcg, m.Get(RankingMetric.Ndcg, 3), 10);
        Assert.Throws<ArgumentException>(() => m.Get(RankingMetric.Hit, 2));
    }
}

public class NegativeSamplerTests
{
    [Fact]
    public void PopularitySamplerDrawsInProportionAndReportsItsProbabilities()
    {
        var sampler = new NegativeSampler(SamplerKind.Popularity, [0, 9, 29, 59]);  // weights 1, 10, 30, 60
        Assert.Equal(1.0, Enumerable.Range(0, 4).Sum(i => Math.Exp(sampler.LogProbability(i))), 5);
        var counts = new int[4];
        var rng = new Rng(1);
        for (int i = 0; i < 200_000; i++) counts[sampler.Next(rng)]++;
        double[] weight = [1, 10, 30, 60];
        for (int i = 0; i < 4; i++) Assert.InRange(counts[i] / 200_000.0, weight[i] / 101 - 0.005, weight[i] / 101 + 0.005);
        var uniform = new NegativeSampler(SamplerKind.Uniform, [0, 9, 29, 59]);
        Assert.Equal(Math.Log(0.25), uniform.LogProbability(3), 5);
    }
}

public class UserBatchTests
{
    private static readonly UserItemLists Lists = UserItemLists.FromLists([[10, 11, 12, 13, 14], [20], [30, 31]]);
    private static readonly Tensor NoFeatures = new(3, 0);

    [Fact]
    public void ChronologicalHistoryIsTheItemsBeforeTheCutoff()
    {
        var b = UserBatch.Gather([0, 0, 2], NoFeatures, Lists, historyLength: 2, cutoffs: [3, 0, 2]);
        Assert.Equal([0, 2, 2], b.HistoryOffsets);
        Assert.Equal([11, 12, 30, 31], b.HistoryItems);
    }

    [Fact]
    public void RecentItemsAreTheTailOfEachHistory()
    {
        var b = UserBatch.Gather([0, 1, 2], NoFeatures, Lists, historyLength: 4);
        var (items, offsets) = b.RecentItems(2);
        Assert.Equal([0, 2, 3], offsets);
        Assert.Equal([13, 14, 20, 30, 31], items);
    }

    [Fact]
    public void UnorderedHistoryIsOtherItemsRoundTheListWithoutTheTarget()
    {
        // User 0, target at position 1, start at 4: reads 14, 10, (skips 11), 12 — three of them.
        var b = UserBatch.GatherOthers([0, 1, 2, 0], NoFeatures, Lists, historyLength: 3, exclude: [1, 0, 0, 4], starts: [4, 0, 1, 0]);
        Assert.Equal([0, 3, 3, 4], b.HistoryOffsets);
        Assert.Equal([14, 10, 12, /* user 1: nothing else */ 31, /* user 0 without 14 */ 10, 11, 12], b.HistoryItems);
        for (int r = 0; r < 4; r++)
        {
            int end = r + 1 < 4 ? b.HistoryOffsets[r + 1] : b.HistoryItems.Length;
            Assert.DoesNotContain(Lists.Of(b.Ids[r])[new[] { 1, 0, 0, 4 }[r]], b.HistoryItems[b.HistoryOffsets[r]..end]);
        }
    }
}

