using VectorRecall.Numerics;
using VectorRecall.Training;
using VectorRecall.TwoTower;

namespace VectorRecall.Benchmarks;

/// <summary>
/// <c>-- twotower [steps]</c>: times the phases of a two-tower training step as the trainer runs it, at the design note's
/// default sizes (the demo's generated data: 10k users, 100k items; batch 1024, 10 sampled negatives, towers
/// 192→256→128→128): batch assembly, forward and loss, backward and the optimiser step, each op's forward and
/// backward, and samples/s.
/// </summary>
internal static class TrainingStepProfile
{
    public static void Run(string[] args)
    {
        int steps = args.Length > 0 ? int.Parse(args[0]) : 30;
        var (data, tower) = TrainerProfile.DemoData();
        var options = new TrainerOptions { CheckpointDir = Path.GetTempPath() };
        var trainer = new TwoTowerTrainer(new TwoTowerModel(tower, new Rng(1)), data, options);
        double msPerStep = TrainerProfile.Time(trainer, steps);
        Console.WriteLine($"total                  {msPerStep,8:F2} ms/step  {options.BatchSize / (msPerStep / 1000):N0} samples/s  ({trainer.StepsPerEpoch} steps/epoch => {msPerStep * trainer.StepsPerEpoch / 1000:F1} s/epoch)");
    }
}
