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
        return RecDataset.FromInteractions(new InteractionDataset("toy", [0, 1], [0, 1, 2], lists([[0, 1], [1, 2]]), lists([[], []]), lists([[2], [0]]), chronological: false));
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
            ServingBundle.Save(dir.File("b"), model, index, items, [0, 1, 2], data.UserFeatures, data.Train, data.Train);
        using var service = RecallService.FromBundle(dir.File("b"));
        Assert.Equal([1L], service.Recall(0, default, 1).ItemIds);
        Assert.Equal([2L], service.Recall(0, default, 1, excludeSeen: true).ItemIds);
    }

    [Fact]
    public void TheRankIsChosenByValidationAndFeaturesAreRefused()
    {
        var data = Toy();
        var (model, rank, exponent, _) = SpectralTwoTower.BuildSelected(data);
        Assert.Equal(0f, exponent);  // no validation split: the ideal low-pass filter
        Assert.Equal(1, rank);  // a catalogue of 3 allows an eighth of it, at least 1
        Assert.Equal(1, model.Config.EmbeddingDim);
        Assert.False(model.Config.NormalizeOutput);
        Assert.Throws<ArgumentOutOfRangeException>(() => SpectralTwoTower.Build(data, data.Train, rank: 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => SpectralTwoTower.Build(data, data.Train, rank: 1, exponent: -1));
    }
}
