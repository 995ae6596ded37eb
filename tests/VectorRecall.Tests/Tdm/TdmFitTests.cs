using VectorRecall.Tdm;
using VectorRecall.Training;

namespace VectorRecall.Tests.Tdm;

public class TdmFitTests(TrainedSmallModel fixture) : IClassFixture<TrainedSmallModel>
{
    [Theory]
    [InlineData(NextTree.Learn)]
    [InlineData(NextTree.Recluster)]
    public void EveryStageKeepsEachItemWithItsOwnLeafVector(NextTree next)
    {
        // With a vanishing learning rate nothing trains, so whichever stage wins (the first tree or the learned one), the
        // model's leaf row of every item must still hold that item's vector: the node table follows the items when they move.
        using var dir = new TempDir();
        var options = new TdmFitOptions
        {
            Trainer = new TrainerOptions { Epochs = 1, BatchSize = 256, LearningRate = 1e-12, WeightDecay = 0, CheckpointDir = dir.File("fit"), Seed = 3 },
            Tdm = new TdmOptions { Beam = 40, NegativesPerLevel = [10], Negatives = TdmNegatives.InBatch },
            Tree = new TreeBuildOptions { Branch = 4 },
            Rounds = 2,
            NextTree = next,
        };
        var lines = new List<string>();
        var (model, tree, stages) = TdmFit.Run(fixture.Data, fixture.Model.User, fixture.ItemVectors, options, t => t.Train(), lines.Add);
        Assert.Equal(["tree_1", "tree_2", "tree_3", "leaf_mlp"], stages.Select(s => s.Name));
        Assert.Equal(model.Nodes.Weight.Value.Span.ToArray(), tree.Embeddings.Span.ToArray());
        var checkpoints = stages.Select(s => TdmCheckpoint.Load(Path.Combine(dir.File("fit"), s.Name, "best_model.safetensors")));
        foreach (var (m, t) in checkpoints.Select(c => (c.Model, c.Tree)).Append((model, tree)))
            for (int item = 0; item < fixture.Data.ItemCount; item++)
            {
                var row = m.Nodes.Weight.Value.Row(t.LeafOf(item));
                var vector = fixture.ItemVectors.Row(item);
                for (int j = 0; j < vector.Length; j++) Assert.Equal(vector[j], row[j], 4);
            }
        Assert.Contains(lines, l => l.StartsWith("best stage:"));
    }
}
