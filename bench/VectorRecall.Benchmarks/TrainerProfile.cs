using VectorRecall.Data;
using VectorRecall.Numerics;
using VectorRecall.Towers;
using VectorRecall.Training;

namespace VectorRecall.Benchmarks;

/// <summary>What the trainer-based step profiles share: the demo's data and tower sizes, and the timed loop over the trainer's own step.</summary>
internal static class TrainerProfile
{
    /// <summary>The demo's generated data (10k users, 100k items) and the design note's tower shape for it.</summary>
    public static (RecDataset Data, TowerConfig Tower) DemoData()
    {
        var data = SyntheticGenerator.Generate(new SyntheticOptions()).Dataset;
        var tower = new TowerConfig
        {
            NumUsers = data.UserCount, NumItems = data.ItemCount, UserFeatures = data.UserFeatures.Cols, ItemFeatures = data.Items.FeatureCount,
            Categories = data.Items.CategoryCount, Tags = data.Items.TagCount,
        };
        return (data, tower);
    }

    /// <summary>Warms up, times <paramref name="steps"/> of the trainer's steps, prints the phases (and the slowest <paramref name="ops"/> ops); returns ms per step.</summary>
    public static double Time<TBatch>(EpochTrainer<TBatch> trainer, int steps, int ops = int.MaxValue) where TBatch : class
    {
        var rng = new Rng(2);
        var timer = new PhaseTimer();
        for (int s = -PhaseTimer.WarmupSteps; s < steps; s++)
        {
            if (s == 0) timer.Start();
            trainer.ProfileStep(rng, timer.Time);
        }
        return timer.Print(steps, ops);
    }
}
