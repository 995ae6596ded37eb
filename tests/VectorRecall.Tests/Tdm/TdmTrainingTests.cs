using VectorRecall.IO;
using VectorRecall.Numerics;
using VectorRecall.Tdm;
using VectorRecall.Retrieval;
using VectorRecall.Training;
using VectorRecall.Towers;

namespace VectorRecall.Tests.Tdm;

public class TdmTrainingTests(TrainedSmallModel fixture) : IClassFixture<TrainedSmallModel>
{
    private (TdmModel Model, ItemTree Tree) NewModel(NodeScorerKind scorer)
    {
        // Four children per node: half the levels of a binary tree, so half the training rows, the same test.
        var tree = TreeBuilder.Build(fixture.ItemVectors, new TreeBuildOptions { Branch = 4 });
        var config = new TdmConfig { User = fixture.Config, Nodes = tree.NodeCount, Scorer = scorer, MlpHidden = [32, 16] };
        var model = new TdmModel(config, new Rng(4));
        tree.Embeddings.Span.CopyTo(model.Nodes.Weight.Value.Span);
        return (model, tree);
    }

    private double Recall20(TdmModel model, ItemTree tree)
    {
        var data = fixture.Data;
        var users = Enumerable.Range(0, data.UserCount).Where(u => data.Test.CountOf(u) > 0).ToArray();
        var retriever = TdmRetriever.Create(model, tree, beam: 40);
        var queries = TdmRetriever.EncodeUsers(model, data, users, fixture.Known);
        return RetrievalEvaluator.Evaluate(retriever, queries, users, data.Test, fixture.Known, [20]).Metrics.Get(RankingMetric.Recall, 20);
    }

    private double PopularityRecall20()
    {
        var data = fixture.Data;
        var users = Enumerable.Range(0, data.UserCount).Where(u => data.Test.CountOf(u) > 0).ToArray();
        using var popularity = new PopularityRetriever(data.Train, data.ItemCount);
        return RetrievalEvaluator.Evaluate(popularity, PopularityRetriever.Queries(users.Length), users, data.Test, fixture.Known, [20]).Metrics.Get(RankingMetric.Recall, 20);
    }

    [Theory]
    [InlineData(NodeScorerKind.InnerProduct, TdmLoss.Softmax, TdmNegatives.Uniform)]
    [InlineData(NodeScorerKind.Mlp, TdmLoss.Softmax, TdmNegatives.Uniform)]
    [InlineData(NodeScorerKind.InnerProduct, TdmLoss.BinaryCrossEntropy, TdmNegatives.Uniform)]
    [InlineData(NodeScorerKind.InnerProduct, TdmLoss.Softmax, TdmNegatives.InBatch)]
    [InlineData(NodeScorerKind.InnerProduct, TdmLoss.Softmax, TdmNegatives.Beam)]
    public void TrainedTreeModelBeatsPopularity(NodeScorerKind scorer, TdmLoss loss, TdmNegatives negatives)
    {
        using var dir = new TempDir();
        var (model, tree) = NewModel(scorer);
        var options = new TrainerOptions { Epochs = 2, BatchSize = 128, LearningRate = 1e-2, CheckpointDir = dir.File("ck"), Seed = 6 };
        var trainer = new TdmTrainer(model, tree, fixture.Data, options, new TdmOptions { Loss = loss, Beam = 40, Negatives = negatives, TrainingBeam = 8 });
        var results = trainer.Train();
        Assert.True(results[^1].TrainLoss < results[0].TrainLoss, $"loss {results[0].TrainLoss} → {results[^1].TrainLoss}");
        double tdm = Recall20(model, tree), popularity = PopularityRecall20();
        Assert.True(tdm > popularity, $"TDM Recall@20 {tdm:F4} is not above popularity {popularity:F4}");

        // The checkpoint holds the tree: loading it alone reproduces the model's ranking.
        var (loaded, loadedTree, info) = TdmCheckpoint.Load(trainer.CheckpointPath("checkpoint_epoch_2"));
        Assert.Equal(2, info.CompletedEpochs);
        Assert.Equal(tree.Codes, loadedTree.Codes);
        Assert.Equal(tdm, Recall20(loaded, loadedTree), 6);
        Assert.Equal(model.Nodes.Weight.Value.Row(tree.LeafOf(5)).ToArray(), loadedTree.LeafEmbeddings(loaded.Nodes.Weight.Value).Row(5).ToArray());
    }

    [Fact]
    public void FrozenUserTowerAndLeavesDoNotMoveAndInBatchNegativesNeedTheInnerProduct()
    {
        using var dir = new TempDir();
        var (model, tree) = NewModel(NodeScorerKind.InnerProduct);
        var before = model.User!.StateDict().ToDictionary(p => p.Key, p => p.Value.Span.ToArray());
        var nodes = model.Nodes.Weight.Value.Span.ToArray();
        var options = new TrainerOptions { Epochs = 1, BatchSize = 128, LearningRate = 1e-2, CheckpointDir = dir.File("ck"), Seed = 6 };
        new TdmTrainer(model, tree, fixture.Data, options, new TdmOptions { Beam = 40, Negatives = TdmNegatives.InBatch, TrainUserTower = false }).Train();
        foreach (var (name, value) in model.User!.StateDict()) Assert.Equal(before[name], value.Span.ToArray());
        Assert.NotEqual(nodes, model.Nodes.Weight.Value.Span.ToArray());
        // Frozen leaves as well: the leaf rows keep the item vectors, the internal rows learn the route.
        var leaves = Enumerable.Range(0, tree.ItemCount).Select(i => model.Nodes.Weight.Value.Row(tree.LeafOf(i)).ToArray()).ToArray();
        var inner = model.Nodes.Weight.Value.Span[..(tree.LevelStart(tree.Depth) * tree.Dimension)].ToArray();
        new TdmTrainer(model, tree, fixture.Data, options with { CheckpointDir = dir.File("ck2") },
            new TdmOptions { Beam = 40, Negatives = TdmNegatives.InBatch, TrainUserTower = false, TrainLeaves = false }).Train();
        for (int i = 0; i < tree.ItemCount; i++) Assert.Equal(leaves[i], model.Nodes.Weight.Value.Row(tree.LeafOf(i)).ToArray());
        Assert.NotEqual(inner, model.Nodes.Weight.Value.Span[..(tree.LevelStart(tree.Depth) * tree.Dimension)].ToArray());
        var (mlp, mlpTree) = NewModel(NodeScorerKind.Mlp);
        Assert.Contains("inner-product", Assert.Throws<ArgumentException>(() =>
            new TdmTrainer(mlp, mlpTree, fixture.Data, options, new TdmOptions { Beam = 40, Negatives = TdmNegatives.InBatch })).Message);
    }

    [Theory]
    [InlineData(NodeScorerKind.InnerProduct)]
    [InlineData(NodeScorerKind.Mlp)]
    public void SearchScoresAgreeWithTrainingLogits(NodeScorerKind scorer)
    {
        var (model, tree) = NewModel(scorer);
        var rng = new Rng(9);
        var user = Tensor.Randn(rng, 1f, 1, fixture.Config.EmbeddingDim);
        int[] nodes = [0, 3, 17, tree.NodeCount - 1, 42];
        var logits = VectorRecall.Autograd.Tape.NoGrad(() => model.Logits(new VectorRecall.Autograd.Variable(user), nodes).Value);
        var scores = new float[nodes.Length];
        model.Score(user.Span, nodes, scores);
        float scale = scorer == NodeScorerKind.InnerProduct ? 1f / model.Config.Temperature : 1f;
        for (int i = 0; i < nodes.Length; i++) Assert.Equal(logits[0, i], scale * scores[i], 3);
        if (scorer == NodeScorerKind.Mlp)
        {
            // The MLP starts as the inner product plus a small learned correction.
            float ip = Distances.Dot(user.Span, model.Nodes.Weight.Value.Row(3)) / model.Config.Temperature;
            Assert.True(Math.Abs(scores[1] - ip) < 0.5f * Math.Abs(ip) + 1f, $"{scores[1]} vs {ip}");
        }
    }

    [Fact]
    public void MismatchedTreesAndCheckpointsAreRefused()
    {
        using var dir = new TempDir();
        var (model, _) = NewModel(NodeScorerKind.InnerProduct);
        var small = TreeBuilder.Build(Tensor.Randn(new Rng(1), 1f, 50, fixture.Config.EmbeddingDim), new TreeBuildOptions());
        var options = new TrainerOptions { Epochs = 1, BatchSize = 128, CheckpointDir = dir.File("ck") };
        Assert.Contains("items", Assert.Throws<ArgumentException>(() => new TdmTrainer(model, small, fixture.Data, options, new TdmOptions())).Message);
        // A two-tower checkpoint is not a TDM checkpoint.
        var twoTower = Directory.GetFiles(Path.GetDirectoryName(fixture.Trainer.CheckpointDir + "/x")!, "*.safetensors")[0];
        Assert.Contains("not a TDM checkpoint", Assert.Throws<FileFormatException>(() => TdmCheckpoint.Load(twoTower)).Message);
    }
}
