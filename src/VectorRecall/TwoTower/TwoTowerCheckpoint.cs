using VectorRecall.Optim;
using VectorRecall.Towers;
using VectorRecall.Training;

namespace VectorRecall.TwoTower;

/// <summary>Two-tower training checkpoints: <see cref="TrainingCheckpoint"/> with the two-tower format and configuration.</summary>
public static class TwoTowerCheckpoint
{
    private const string Format = "vrecall-two-tower";

    public static void Save(string path, TwoTowerModel model, Optimizer? optimizer, CheckpointInfo info) =>
        TrainingCheckpoint.Save(path, model, new CheckpointKind(Format, model.Config.ToJson()), optimizer, info);

    /// <summary>Loads a two-tower checkpoint written for a model of the same shape.</summary>
    public static CheckpointInfo Load(string path, TwoTowerModel model, Optimizer? optimizer = null) =>
        TrainingCheckpoint.Load(path, model, Format, m => TowerConfig.FromJson(TrainingCheckpoint.ConfigJson(path, m), path).SameShape(model.Config), model.Config.ToJson(), optimizer).Info;
}
