using VectorRecall.Data;
using VectorRecall.Numerics;
using VectorRecall.Serving;
using VectorRecall.Towers;
using VectorRecall.TwoTower;

namespace VectorRecall.Tests.TwoTower;

public class SpectralTwoTowerTests
{
    // Two users, three items: user 0 chose items 0 and 1, user 1 items 1 and 2.
    private static RecDataset Toy()
    {
        var lists = (int[][] l) => UserItemLists.FromLists(l.Select(x => (IReadOnlyList<int>)x.ToList()).ToArray());
        return RecDataset.FromInteractions(new InteractionDataset("toy", new long[] { 0, 1 }, new long[] { 0, 1, 2 }, lists([[0, 1], [1, 2]]), lists([[], []]), lists([[2], [0]]), chronological: false));
    }

    [Fact]
    public void AtFullRankTheLowPassFilterIsTheIdentity()
    {
        // D^(−1/2) V Vᵀ D^(1/2) = I when V holds every eigenvector: a user's scores are its (mean) interaction row.
        var data = Toy();
        var model = SpectralTwoTower.Build(data, data.Train, rank: 3);
        var users = TowerEncoder.EncodeUsers(model.User, UserBatch.Gather([0, 1], data.UserFeatures, data.Train, model.Config.HistoryLength));
        var items = TowerEncoder.EncodeItems(model.Item, data.Items);
        float[][] expected = [[0.5f, 0.5f, 0], [0, 0.5f, 0.5f]];
        for (int u = 0; u < 2; u++)
            for (int j = 0; j < 3; j++) Assert.Equal(expected[u][j], Distances.Dot(users.Row(u), items.Row(j)), 4);
    }

    [Fact]
    public void AnyNormalisationAtFullRankIsTheIdentityAndZeroIsTheCooccurrenceFilter()
    {
        // D^(−ε) V Vᵀ D^ε = I at full rank whatever ε, when α = ε.
        var data = Toy();
        var users = (TwoTowerModel m) => TowerEncoder.EncodeUsers(m.User, UserBatch.Gather([0, 1], data.UserFeatures, data.Train, m.Config.HistoryLength));
        var model = SpectralTwoTower.Build(data, data.Train, rank: 3, degreeExponent: 0.3f, normalization: 0.3f);
        var u = users(model);
        var items = TowerEncoder.EncodeItems(model.Item, data.Items);
        float[][] expected = [[0.5f, 0.5f, 0], [0, 0.5f, 0.5f]];
        for (int r = 0; r < 2; r++)
            for (int j = 0; j < 3; j++) Assert.Equal(expected[r][j], Distances.Dot(u.Row(r), items.Row(j)), 4);
        // ε = α = 0 and γ = 1: the filter is RᵀR = [[1, 1, 0], [1, 2, 1], [0, 1, 1]], so user 0 (items 0, 1) scores
        // item 2 by (0 + 1) / 2 and item 1 by (1 + 2) / 2.
        model = SpectralTwoTower.Build(data, data.Train, rank: 3, exponent: 1, degreeExponent: 0, normalization: 0);
        u = users(model);
        items = TowerEncoder.EncodeItems(model.Item, data.Items);
        Assert.Equal(0.5f, Distances.Dot(u.Row(0), items.Row(2)), 4);
        Assert.Equal(1.5f, Distances.Dot(u.Row(0), items.Row(1)), 4);
        Assert.Throws<ArgumentOutOfRangeException>(() => SpectralTwoTower.Build(data, data.Train, rank: 1, normalization: 1.5f));
    }

    [Fact]
    public void TheGraphIsNormalisedByBothDegreesToTheGivenPower()
    {
        // User 0 (degree 2) chose items 0 (degree 1) and 1 (degree 2): weights (2·1)^(−ε) and (2·2)^(−ε).
        var train = UserItemLists.FromLists([(IReadOnlyList<int>)[0, 1], [1, 2]]);
        var half = train.NormalizedMatrix(3).Row(0).Values.ToArray();
        Assert.Equal([1 / MathF.Sqrt(2), 0.5f], half);
        var flat = train.NormalizedMatrix(3, 0.3f).Row(0).Values.ToArray();
        Assert.Equal(MathF.Pow(2, -0.3f), flat[0], 6);
        Assert.Equal(MathF.Pow(4, -0.3f), flat[1], 6);
        Assert.Equal([1f, 1f], train.NormalizedMatrix(3, 0).Row(0).Values.ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => train.NormalizedMatrix(3, -0.1f));
    }

    [Fact]
    public void AnEigenvalueExponentWeightsEachDirection()
    {
        // At full rank with γ = 1 the filter is D^(−1/2) P D^(1/2): user 0 (items 0, 1) scores item 2 by
        // (P_02 / √1 + P_12 / √2) · √1 / 2 = (0 + 1/(2√2) / √2) / 2 = 1/8.
        var data = Toy();
        var model = SpectralTwoTower.Build(data, data.Train, rank: 3, exponent: 1);
        var users = TowerEncoder.EncodeUsers(model.User, UserBatch.Gather([0], data.UserFeatures, data.Train, model.Config.HistoryLength));
        var items = TowerEncoder.EncodeItems(model.Item, data.Items);
        Assert.Equal(0.125f, Distances.Dot(users.Row(0), items.Row(2)), 4);
    }

    [Fact]
    public void ALowRankModelMatchesTheDenseFilterAndServesThroughABundle()
    {
        var data = Toy();
        var model = SpectralTwoTower.Build(data, data.Train, rank: 1);
        // The leading eigenvector of P = R̃ᵀR̃ (P = [[1/2, c, 0], [c, 1/2, c], [0, c, 1/2]], c = 1/(2√2)) is (1, √2, 1)/2.
        var v = new[] { 0.5f, MathF.Sqrt(2) / 2, 0.5f };
        float[] degree = [1, 2, 1];
        var items = TowerEncoder.EncodeItems(model.Item, data.Items);
        var users = TowerEncoder.EncodeUsers(model.User, UserBatch.Gather([0], data.UserFeatures, data.Train, model.Config.HistoryLength));
        for (int j = 0; j < 3; j++)
        {
            // r·D^(−1/2)·v·(d_j^(1/2) v_j), averaged over the user's two items.
            float expected = (v[0] / MathF.Sqrt(degree[0]) + v[1] / MathF.Sqrt(degree[1])) / 2 * MathF.Sqrt(degree[j]) * v[j];
            Assert.Equal(expected, Distances.Dot(users.Row(0), items.Row(j)), 4);
        }
        using var dir = new TempDir();
        using (var index = TowerEncoder.BuildIndex(items, "HNSW16,efc=50,efs=50"))
            ServingBundle.Save(dir.File("b"), model, index, items, new long[] { 0, 1, 2 }, data.UserFeatures, data.Train, data.Train);
        using var service = RecallService.FromBundle(dir.File("b"));
        Assert.Equal([1L], service.Recall(0, default, 1).ItemIds);
        Assert.Equal([2L], service.Recall(0, default, 1, excludeSeen: true).ItemIds);
    }

    [Fact]
    public void TheRankIsChosenByValidationAndFeaturesAreRefused()
    {
        var data = Toy();
        var (model, chosen, _) = SpectralTwoTower.BuildSelected(data);
        Assert.Equal(0f, chosen.EigenvalueExponent);  // no validation split: the ideal low-pass filter
        Assert.Equal(SpectralTwoTower.DefaultDegreeExponent, chosen.DegreeExponent);
        Assert.Equal(1, chosen.Rank);  // a catalogue of 3 allows an eighth of it, at least 1
        Assert.Equal(1, model.Config.EmbeddingDim);
        Assert.False(model.Config.NormalizeOutput);
        Assert.Throws<ArgumentOutOfRangeException>(() => SpectralTwoTower.Build(data, data.Train, rank: 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => SpectralTwoTower.Build(data, data.Train, rank: 1, exponent: -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => SpectralTwoTower.Build(data, data.Train, rank: 1, degreeExponent: 1.5f));
    }

    [Fact]
    public void TheDegreeExponentDiscountsEachHistoryItem()
    {
        // A history of item 1 alone (degree 2) scores every item 2^(½ − α) times as high as under GF-CF's α = ½;
        // a history of item 0 (degree 1) is not discounted at all.
        var data = Toy();
        var gfcf = SpectralTwoTower.Build(data, data.Train, rank: 2);
        var discounted = SpectralTwoTower.Build(data, data.Train, rank: 2, degreeExponent: 0.3f);
        foreach (var (item, ratio) in new[] { (1, MathF.Pow(2, 0.2f)), (0, 1f) })
        {
            var history = UserItemLists.FromLists([(IReadOnlyList<int>)[item]]);
            float[] Scores(TwoTowerModel model)
            {
                var user = TowerEncoder.EncodeUsers(model.User, UserBatch.Gather([0], new Tensor(1, 0), history, model.Config.HistoryLength));
                var items = TowerEncoder.EncodeItems(model.Item, data.Items);
                return Enumerable.Range(0, 3).Select(j => Distances.Dot(user.Row(0), items.Row(j))).ToArray();
            }
            var (before, after) = (Scores(gfcf), Scores(discounted));
            for (int j = 0; j < 3; j++) Assert.Equal(ratio * before[j], after[j], 4);
        }
    }

    [Fact]
    public void TheWindowFadesTheWeakerDirectionsLinearly()
    {
        // Rank 4 with the full window: direction c's user-side column is scaled by (4 − c)/4; the item side is untouched.
        var data = CommunityData.Create();
        var sharp = SpectralTwoTower.Build(data, data.Train, rank: 4, exponent: 0.5f);
        var windowed = SpectralTwoTower.Build(data, data.Train, rank: 4, exponent: 0.5f, taper: 1);
        var before = sharp.User.Behaviour.Weight.Value;
        var after = windowed.User.Behaviour.Weight.Value;
        for (int i = 0; i < data.ItemCount; i++)
            for (int c = 0; c < 4; c++) Assert.Equal(before[i, c] * (4 - c) / 4f, after[i, c], 5);
        Assert.Equal(sharp.Item.Id.Weight.Value.Span.ToArray(), windowed.Item.Id.Weight.Value.Span.ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => SpectralTwoTower.Build(data, data.Train, rank: 4, taper: 1.5f));
    }

    [Fact]
    public void AWarmStartFromTheTrainingSplitGivesTheColdScores()
    {
        // The final build on train + validation starts from the training split's eigenvectors and runs a few products;
        // rank 4 ends at the gap after the four communities, so both runs converge to the same subspace.
        var data = CommunityData.Create();
        var all = data.Train.Concat(data.Validation);
        var (_, _, trainVectors) = VectorRecall.Retrieval.IdealLowPassFilter.Decompose(data.Train, data.ItemCount, [4]);
        var cold = Scores(SpectralTwoTower.Build(data, all, rank: 4, exponent: 0.5f), data, all);
        var warm = Scores(SpectralTwoTower.Build(data, all, rank: 4, exponent: 0.5f, start: trainVectors), data, all);
        for (int i = 0; i < cold.Length; i++) Assert.Equal(cold.Span[i], warm.Span[i], 1e-3);
    }

    [Fact]
    public void SelectionOnCommunityDataScoresEveryCandidateAndBeatsPopularity()
    {
        var data = CommunityData.Create();
        var (model, chosen, scores) = SpectralTwoTower.BuildSelected(data);
        // 120 items: one rank, an eighth of them; every γ at α = ε = ½, every γ again at each of the two steps in ε (α = ε),
        // then the other αs at the best.
        Assert.Equal((1 + SpectralTwoTower.NormalizationSteps) * SpectralTwoTower.CandidateExponents.Length + SpectralTwoTower.CandidateDegreeExponents.Length - 1, scores.Count);
        Assert.Equal(15, chosen.Rank);
        Assert.Equal(15, model.Config.EmbeddingDim);
        Assert.Contains(chosen.EigenvalueExponent, SpectralTwoTower.CandidateExponents);
        Assert.Contains(chosen.DegreeExponent, SpectralTwoTower.CandidateDegreeExponents);
        float[] normalizations = [0.3f, 0.4f, 0.5f, 0.6f];
        Assert.Contains(chosen.Normalization, normalizations);
        Assert.All(scores, s => Assert.Contains(s.Normalization, normalizations));
        // The first step goes below ½; the second goes on from a step taken, or crosses to the other side of ½.
        var stepped = scores.Select(s => s.Normalization).Where(e => e != SpectralTwoTower.DefaultNormalization).Distinct().ToArray();
        Assert.Equal(0.4f, stepped[0]);
        if (chosen.Normalization < SpectralTwoTower.DefaultNormalization) Assert.Equal(0.3f, stepped[1]);
        if (chosen.Normalization > SpectralTwoTower.DefaultNormalization) Assert.Equal(0.6f, stepped[1]);
        Assert.Contains(stepped[1], new[] { 0.3f, 0.6f });
        // The best at its ε; a step in ε with a higher mean can still be refused as within the noise.
        Assert.Equal(scores.Where(s => s.Normalization == chosen.Normalization).Max(s => s.Recall), chosen.Recall);
        Assert.All(scores, s => Assert.Equal(SpectralTwoTower.Window, s.Taper));
        // Every user's top 10 stays inside its community (30 items), which popularity cannot do.
        var all = data.Train.Concat(data.Validation);
        var s = Scores(model, data, all);
        for (int u = 0; u < data.UserCount; u++)
        {
            var row = s.Row(u).ToArray();
            var top = Enumerable.Range(0, data.ItemCount).Where(j => !all.Of(u).Contains(j)).OrderByDescending(j => row[j]).Take(10);
            Assert.All(top, j => Assert.Equal(u / 40, j / 30));
        }
    }

    [Fact]
    public void AStepMustBeatTheIncumbentBeyondTheNoise()
    {
        double[] incumbent = [0, 1, 0, 1, 0, 1, 0, 1, 0, 1];
        Assert.False(SpectralTwoTower.ClearlyBetter(incumbent, incumbent));
        // Every user gains 0.1 or 0.2: a mean of 0.15 with a standard error of about 0.017.
        Assert.True(SpectralTwoTower.ClearlyBetter(incumbent.Select((x, i) => x + (i % 2 == 0 ? 0.1 : 0.2)).ToArray(), incumbent));
        // One user of ten flips from 0 to 1: a mean gain of 0.1 with a standard error of 0.1.
        Assert.False(SpectralTwoTower.ClearlyBetter(incumbent.Select((x, i) => i == 0 ? 1.0 : x).ToArray(), incumbent));
        // Three users of ten flip up: 0.3 against a standard error of about 0.15 — still within twice of it.
        Assert.False(SpectralTwoTower.ClearlyBetter(incumbent.Select((x, i) => i is 0 or 2 or 4 ? 1.0 : x).ToArray(), incumbent));
        // Five of ten: 0.5 against about 0.17.
        Assert.True(SpectralTwoTower.ClearlyBetter(incumbent.Select((x, i) => i % 2 == 0 ? 1.0 : x).ToArray(), incumbent));
        Assert.False(SpectralTwoTower.ClearlyBetter([1.0], [0.0]));
        Assert.Throws<ArgumentException>(() => SpectralTwoTower.ClearlyBetter([1.0, 1.0], [0.0]));
    }

    [Fact]
    public void DecompositionMemoryGrowsWithTheRankAndCountsItsLargestPhase()
    {
        Assert.True(SpectralTwoTower.DecompositionBytes(30_000, 41_000, 2048) > 1.5 * SpectralTwoTower.DecompositionBytes(30_000, 41_000, 1024));
        Assert.InRange(SpectralTwoTower.DecompositionBytes(30_000, 41_000, 2048), 3L << 30, 4L << 30);
        // 100 users, 1,000 items, rank 64: the block 96 × (4 · 1,000 + 100) = 393,600 floats and a table 64,000. The first
        // decomposition: block + eigenvectors + both sides at rank 64 = 585,600; a step in ε: the chosen side and index,
        // a block, its eigenvectors, both sides and an index = 777,600; the final build: at most 521,600. The step wins.
        Assert.Equal(4L * 777_600, SpectralTwoTower.DecompositionBytes(100, 1_000, 64));
    }

    /// <summary>Every user's score for every item (users × items) through the model's towers.</summary>
    private static Tensor Scores(TwoTowerModel model, RecDataset data, UserItemLists history)
    {
        var users = TowerEncoder.EncodeUsers(model.User, UserBatch.Gather(Enumerable.Range(0, data.UserCount).ToArray(), data.UserFeatures, history, model.Config.HistoryLength));
        var items = TowerEncoder.EncodeItems(model.Item, data.Items);
        var scores = new Tensor(data.UserCount, data.ItemCount);
        Gemm.Multiply(users, false, items, true, scores);
        return scores;
    }
}
