using VectorRecall.Autograd;
using VectorRecall.Data;
using VectorRecall.Numerics;
using VectorRecall.Retrieval;
using VectorRecall.Serving;
using VectorRecall.Tdm;

namespace VectorRecall.Tests.Tdm;

public class LeafScorerTrainingTests(TrainedSmallModel fixture) : IClassFixture<TrainedSmallModel>
{
    /// <summary>An inner-product route over a k-means tree of the two-tower's items, its user tower the two-tower's.</summary>
    private (TdmModel Route, ItemTree Tree) Route()
    {
        var tree = TreeBuilder.Build(fixture.ItemVectors, new TreeBuildOptions { Branch = 4 });
        var route = new TdmModel(new TdmConfig { User = fixture.Config, Nodes = tree.NodeCount }, new Rng(4));
        route.User!.LoadStateDict(fixture.Model.User.StateDict());
        tree.Embeddings.Span.CopyTo(route.Nodes.Weight.Value.Span);
        return (route, tree);
    }

    [Fact]
    public void ALeafMlpScoresTheRouteByInnerProductAndTheLeavesByItsMlpAsTrainingDoes()
    {
        var (route, tree) = Route();
        var model = new TdmModel(route.Config with { Scorer = NodeScorerKind.LeafMlp, MlpHidden = [16, 8] }, new Rng(5));
        route.Nodes.Weight.Value.Span.CopyTo(model.Nodes.Weight.Value.Span);
        Assert.Equal(tree.LevelStart(tree.LevelCount - 1), model.FirstLeaf);
        var user = new float[route.Config.Dimension];
        new Rng(6).FillNormal(user, 0, 1);
        int[] inner = [tree.LevelStart(2), tree.LevelStart(2) + 1, tree.LevelStart(2) + 2];
        int[] leaves = [model.FirstLeaf, model.FirstLeaf + 7, tree.NodeCount - 1];
        var scores = new float[3];

        // It starts as the inner product on every level (the leaves' over τ, the training scale).
        model.Score(user, leaves, scores);
        for (int i = 0; i < leaves.Length; i++) Assert.Equal(Distances.Dot(user, model.Nodes.Weight.Value.Row(leaves[i])) / route.Config.Temperature, scores[i], 3);

        new Rng(7).FillNormal(model.Mlp!.Layers[^1].Parameters().First().Value.Span, 0, 1);
        model.Score(user, inner, scores);
        for (int i = 0; i < inner.Length; i++) Assert.Equal(Distances.Dot(user, model.Nodes.Weight.Value.Row(inner[i])), scores[i], 4);
        model.Score(user, leaves, scores);
        var userRow = new Tensor(1, user.Length);
        user.CopyTo(userRow.Span);
        var logits = Tape.NoGrad(() => model.Logits(new Variable(userRow), leaves).Value);
        for (int i = 0; i < leaves.Length; i++)
        {
            Assert.Equal(logits.Span[i], scores[i], 3);
            Assert.NotEqual(Distances.Dot(user, model.Nodes.Weight.Value.Row(leaves[i])) / route.Config.Temperature, scores[i], 2);
        }
    }

    [Fact]
    public void TheCrossFitStartsAtTheRoutesRecallAndTheScorerLearnsItsListsWithoutMovingTheRoute()
    {
        var (route, tree) = Route();
        var data = fixture.Data;
        var options = new LeafScorerOptions { Hidden = [16, 8], MaxEpochs = 4, Beam = 40, LearningRate = 1e-2 };
        var lines = new List<string>();
        var result = LeafScorerTraining.Fit(route, tree, data, options, lines.Add);

        // Epoch 0 of the cross-fit is the route's own ranking: the validation recall its beam search gets.
        var users = Enumerable.Range(0, data.UserCount).Where(u => data.Validation.CountOf(u) > 0).ToArray();
        var queries = TdmRetriever.EncodeUsers(route, data, users, data.Train);
        double beamRecall = RetrievalEvaluator.Evaluate(TdmRetriever.Create(route, tree, 40), queries, users, data.Validation, data.Train, [20]).Metrics.Get(RankingMetric.Recall, 20);
        Assert.Equal(beamRecall, result.RouteRecall, 9);
        Assert.Equal(result.RouteRecall, result.RecallByEpoch[0], 12);
        Assert.Equal(options.MaxEpochs + 1, result.RecallByEpoch.Count);
        Assert.InRange(result.Epochs, 0, options.MaxEpochs);
        Assert.Equal(result.RecallByEpoch.Max(), result.ValidationRecall);
        Assert.Equal(result.RecallByEpoch[result.Epochs], result.ValidationRecall);
        Assert.Contains(lines, l => l.Contains("cross-fitted validation Recall@20"));

        // The route is the route's: the same user tower, node table and inner product above the leaves.
        var model = result.Model;
        Assert.Equal(NodeScorerKind.LeafMlp, model.Config.Scorer);
        Assert.Equal(route.Nodes.Weight.Value.Span.ToArray(), model.Nodes.Weight.Value.Span.ToArray());
        Assert.Equal(queries.Span.ToArray(), TdmRetriever.EncodeUsers(model, data, users, data.Train).Span.ToArray());

        // Trained on every list for a fixed number of epochs, the scorer ranks those lists better than the route did.
        var trained = LeafScorerTraining.Train(route, tree, data, options, epochs: 16);
        double fitted = RetrievalEvaluator.Evaluate(TdmRetriever.Create(trained, tree, 40), queries, users, data.Validation, data.Train, [20]).Metrics.Get(RankingMetric.Recall, 20);
        Assert.True(fitted > beamRecall + 0.005, $"in-sample Recall@20 {fitted:F4} is not above the route's {beamRecall:F4}");

        // Its bundle serves the same ranking: the scorer kind and the MLP travel with the model.
        using var dir = new TempDir();
        ServingBundle.SaveTdm(dir.File("leaf"), trained, tree, 40, fixture.ItemIds, data.UserFeatures, data.Train, data.Train);
        using var service = RecallService.FromBundle(dir.File("leaf"));
        var direct = TdmRetriever.Create(trained, tree, 40);
        var (ids, scores, servedIds, servedScores) = (new long[10], new float[10], new long[10], new float[10]);
        for (int r = 0; r < 20; r++)
        {
            direct.Search(queries.Row(r), 10, ids, scores);
            service.Retriever.Search(queries.Row(r), 10, servedIds, servedScores);
            Assert.Equal(ids, servedIds);
            Assert.Equal(scores, servedScores);
        }
    }

    [Fact]
    public void HeldOutItemsNoBeamReachesLeaveTheRoutesRankingAndNoError()
    {
        // Each user's held-out item is one it trained on, which search leaves out: no list holds a positive.
        var (route, tree) = Route();
        var d = fixture.Data;
        var seenAgain = UserItemLists.FromLists([.. Enumerable.Range(0, d.UserCount).Select(u => (IReadOnlyList<int>)(d.Train.CountOf(u) > 0 ? [d.Train.Of(u)[0]] : []))]);
        var data = new RecDataset(d.Items, d.UserFeatures, d.Train, seenAgain, d.Test);
        var lines = new List<string>();
        var result = LeafScorerTraining.Fit(route, tree, data, new LeafScorerOptions { Beam = 40 }, lines.Add);
        Assert.Equal(0, result.Epochs);
        Assert.Equal(0, result.ValidationRecall);
        Assert.Equal(result.RouteRecall, result.ValidationRecall);
        Assert.Contains(lines, l => l.Contains("keep the route's ranking"));

        // No held-out items at all: the stage's recall is undefined, so a fit never prefers it.
        var none = new RecDataset(d.Items, d.UserFeatures, d.Train, UserItemLists.FromLists([.. Enumerable.Range(0, d.UserCount).Select(_ => (IReadOnlyList<int>)[])]), d.Test);
        Assert.True(double.IsNaN(LeafScorerTraining.Fit(route, tree, none, new LeafScorerOptions { Beam = 40 }).ValidationRecall));
    }

    [Fact]
    public void ABadRouteOrSettingIsRefusedWithTheReason()
    {
        var (route, tree) = Route();
        var mlp = new TdmModel(route.Config with { Scorer = NodeScorerKind.Mlp, MlpHidden = [8] }, new Rng(1));
        Assert.Contains("inner-product route", Assert.Throws<ArgumentException>(() => LeafScorerTraining.Fit(mlp, tree, fixture.Data, new LeafScorerOptions { Beam = 40 })).Message);
        Assert.Contains("Beam", Assert.ThrowsAny<ArgumentException>(() => LeafScorerTraining.Fit(route, tree, fixture.Data, new LeafScorerOptions { Beam = 5 })).Message);
        Assert.Contains("Hidden", Assert.ThrowsAny<ArgumentException>(() => LeafScorerTraining.Fit(route, tree, fixture.Data, new LeafScorerOptions { Hidden = [0] })).Message);
        var leaf = new TdmModel(route.Config with { Scorer = NodeScorerKind.LeafMlp, MlpHidden = [8] }, new Rng(1));
        Assert.Contains("LeafScorerTraining", Assert.Throws<ArgumentException>(() =>
            new TdmTrainer(leaf, tree, fixture.Data, new Training.TrainerOptions { CheckpointDir = "unused" }, new TdmOptions { Beam = 40 })).Message);
    }
}
