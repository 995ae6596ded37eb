using VectorRecall.Autograd;
using VectorRecall.Data;
using VectorRecall.Numerics;
using VectorRecall.Retrieval;
using VectorRecall.Training;
using VectorRecall.Towers;
using VectorRecall.TwoTower;

namespace VectorRecall.Tests.Towers;

public class GraphPropagationTests
{
    // Two users, three items: user 0 chose items 0 and 1, user 1 items 1 and 2.
    private static readonly UserItemLists Toy = new([0, 2, 4], [0, 1, 1, 2]);

    [Fact]
    public void PropagationMatchesTheDenseNormalisedAdjacency()
    {
        var rng = new Rng(5);
        var users = Tensor.Randn(rng, 1f, 2, 4);
        var items = Tensor.Randn(rng, 1f, 3, 4);
        var (u, i) = new GraphPropagation(Toy, 3, layers: 2).Propagate(users, items);

        // The reference: Â = D^(−1/2) A D^(−1/2) over the 5 nodes (users first), E ← mean(E, ÂE, Â²E).
        int[] degree = [2, 2, 1, 2, 1];
        var a = new Tensor(5, 5);
        for (int user = 0; user < 2; user++)
            foreach (int item in Toy.Of(user))
                a[user, 2 + item] = a[2 + item, user] = 1f / MathF.Sqrt(degree[user] * degree[2 + item]);
        var e = new Tensor(5, 4);
        users.Span.CopyTo(e.Span);
        items.Span.CopyTo(e.Span[8..]);
        var layer1 = Ops.MatMul(a, e).Value;
        var layer2 = Ops.MatMul(a, layer1).Value;
        for (int r = 0; r < 5; r++)
            for (int c = 0; c < 4; c++)
            {
                float expected = (e[r, c] + layer1[r, c] + layer2[r, c]) / 3;
                Assert.Equal(expected, r < 2 ? u[r, c] : i[r - 2, c], 5);
            }
    }

    [Fact]
    public void PropagationGradientsAreCorrect()
    {
        var graph = new GraphPropagation(Toy, 3, layers: 2);
        var rng = new Rng(6);
        GradCheck.Check(v =>
        {
            var (u, i) = graph.Forward(v[0], v[1]);
            return Ops.ConcatColumns(Ops.MatMul(u, u, transposeB: true), Ops.MatMul(u, i, transposeB: true));
        }, Tensor.Randn(rng, 1f, 2, 3), Tensor.Randn(rng, 1f, 3, 3));
    }

    [Fact]
    public void PropagationHelpsOnDataWithCommunities()
    {
        var data = CommunityData.Create();
        double plain = TestRecall(data, layers: 0), propagated = TestRecall(data, layers: 2);
        Assert.True(propagated > plain + 0.03, $"Recall@10 with propagation {propagated:F3}, without {plain:F3}");
    }

    [Fact]
    public void TheBundleServesThePropagatedVectorsTheTrainerValidatedWith()
    {
        var data = CommunityData.Create();
        using var dir = new TempDir();
        var config = new TowerConfig { NumUsers = data.UserCount, NumItems = data.ItemCount, IdDim = 8, BehaviourDim = 8, Hidden = [], EmbeddingDim = 8, Dropout = 0, PropagationLayers = 2 };
        var model = new TwoTowerModel(config, new Rng(3));
        var layer0 = model.Item.Id.Weight.Value.Clone();
        var trainer = new TwoTowerTrainer(model, data, new TrainerOptions { Epochs = 1, BatchSize = 64, CheckpointDir = dir.File("ck") }, new InfoNceOptions { NumNegatives = 2 });
        trainer.Train();
        var (trainedUsers, trainedItems) = (model.User.Id.Weight.Value.Clone(), model.Item.Id.Weight.Value.Clone());
        Assert.NotEqual(layer0.ToArray(), trainedItems.ToArray());
        // The served tables are the propagated ones, and restoring again does not propagate twice.
        var (expectedUsers, expectedItems) = new GraphPropagation(data.Train, data.ItemCount, 2).Propagate(trainedUsers, trainedItems);
        trainer.RestoreBest();
        trainer.RestoreBest();
        Assert.Equal(expectedUsers.ToArray(), model.User.Id.Weight.Value.ToArray());
        Assert.Equal(expectedItems.ToArray(), model.Item.Id.Weight.Value.ToArray());
        var items = TowerEncoder.EncodeItems(model.Item, data.Items);
        var users = Enumerable.Range(0, data.UserCount).ToArray();
        var queries = TowerEncoder.EncodeUsers(model.User, UserBatch.Gather(users, data.UserFeatures, data.Train, config.HistoryLength));
        using (var index = TowerEncoder.BuildIndex(items, "Flat"))
            VectorRecall.Serving.ServingBundle.Save(dir.File("bundle"), model, index, items, TowerEncoder.SequentialIds(data.ItemCount), data.UserFeatures, data.Train, data.Train);
        using var service = VectorRecall.Serving.RecallService.FromBundle(dir.File("bundle"));
        var served = service.EncodeUsers(users.Select(u => (long)u).ToArray());
        for (int i = 0; i < queries.Length; i++) Assert.Equal(queries.Span[i], served.Span[i], 5);
        var servedItems = service.LoadItemVectors();
        for (int i = 0; i < items.Length; i++) Assert.Equal(items.Span[i], servedItems.Span[i], 5);
    }

    private static double TestRecall(RecDataset data, int layers)
    {
        using var dir = new TempDir();
        var config = new TowerConfig
        {
            NumUsers = data.UserCount, NumItems = data.ItemCount, IdDim = 16, BehaviourDim = 16, Hidden = [], EmbeddingDim = 16,
            Dropout = 0, PropagationLayers = layers,
        };
        var model = new TwoTowerModel(config, new Rng(3));
        var trainer = new TwoTowerTrainer(model, data, new TrainerOptions { Epochs = 15, BatchSize = 64, LearningRate = 1e-2, CheckpointDir = dir.File("ck") }, new InfoNceOptions { NumNegatives = 5 });
        trainer.Train();
        trainer.RestoreBest();
        var users = Enumerable.Range(0, data.UserCount).ToArray();
        var items = TowerEncoder.EncodeItems(model.Item, data.Items);
        var queries = TowerEncoder.EncodeUsers(model.User, UserBatch.Gather(users, data.UserFeatures, data.Train, config.HistoryLength));
        using var flat = new IndexRetriever(TowerEncoder.BuildIndex(items, "Flat"));
        return RetrievalEvaluator.Evaluate(flat, queries, users, data.Test, data.Train, [10]).Metrics.Get(RankingMetric.Recall, 10);
    }
}
