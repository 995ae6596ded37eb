using VectorRecall.Numerics;
using VectorRecall.Towers;
using VectorRecall.Training;
using VectorRecall.TwoTower;

namespace VectorRecall.Tests.TwoTower;

/// <summary>The step the profiles in bench/ time is a training step: its phases in order, and the weights move.</summary>
public class ProfileStepTests
{
    [Fact]
    public void RunsTheTrainersStepPhaseByPhase()
    {
        var data = CommunityData.Create();
        using var dir = new TempDir();
        var config = new TowerConfig { NumUsers = data.UserCount, NumItems = data.ItemCount, IdDim = 8, BehaviourDim = 8, Hidden = [16], EmbeddingDim = 8 };
        var model = new TwoTowerModel(config, new Rng(3));
        var trainer = new TwoTowerTrainer(model, data, new TrainerOptions { BatchSize = 64, CheckpointDir = dir.File("ck") }, new InfoNceOptions { NumNegatives = 2 });
        var before = model.User.Mlp.StateDict().Values.Select(t => t.Clone()).ToArray();
        var phases = new List<string>();
        float loss = trainer.ProfileStep(new Rng(4), (name, work) => { phases.Add(name); work(); });
        Assert.Equal(["batch", "forward and loss", "backward", "optimizer"], phases);
        Assert.True(float.IsFinite(loss) && loss > 0, $"loss {loss}");
        var after = model.User.Mlp.StateDict().Values.ToArray();
        Assert.Contains(Enumerable.Range(0, before.Length), i => !before[i].ToArray().SequenceEqual(after[i].ToArray()));
    }
}
