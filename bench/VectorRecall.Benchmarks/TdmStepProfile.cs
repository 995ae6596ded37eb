using VectorRecall.Numerics;
using VectorRecall.Tdm;
using VectorRecall.Training;

namespace VectorRecall.Benchmarks;

/// <summary>
/// <c>-- tdm [steps] [ip|mlp]</c>: times the phases of a TDM training step as the trainer runs it, on the demo's generated
/// data (10k users, 100k items) with a balanced binary tree over random 128-d item vectors and the design note's user
/// tower: <c>tdm fit</c>'s defaults for the inner product (50 negatives per level and in-batch ones, user tower and
/// leaves frozen) or for an MLP 64-32 (6 uniform negatives per level, every part trained), batch 1024.
/// </summary>
internal static class TdmStepProfile
{
    public static void Run(string[] args)
    {
        int steps = args.Length > 0 ? int.Parse(args[0]) : 30;
        bool mlp = args.Length > 1 && args[1] == "mlp";
        var (data, tower) = TrainerProfile.DemoData();
        var tree = TreeBuilder.Build(Tensor.Randn(new Rng(3), 1f, data.ItemCount, tower.EmbeddingDim), new TreeBuildOptions());
        var options = new TrainerOptions { CheckpointDir = Path.GetTempPath() };
        var fit = new TdmFitOptions { Trainer = options };
        var tdm = mlp ? new TdmOptions() : fit.Tdm;
        var config = new TdmConfig
        {
            User = tower, Nodes = tree.NodeCount, Scorer = mlp ? NodeScorerKind.Mlp : NodeScorerKind.InnerProduct,
            Temperature = 0.1f, MlpHidden = [64, 32],
        };
        var trainer = new TdmTrainer(new TdmModel(config, new Rng(1)), tree, data, options, tdm);
        Console.WriteLine($"{tree.NodeCount:N0} nodes on {tree.Depth} levels; {(mlp ? "MLP 64-32" : "inner product")}, {string.Join("/", tdm.NegativesPerLevel)} negatives per level ({tdm.Negatives})");
        double msPerStep = TrainerProfile.Time(trainer, steps, ops: 10);
        Console.WriteLine($"total                  {msPerStep,8:F2} ms/step  ({trainer.StepsPerEpoch} steps/epoch => {msPerStep * trainer.StepsPerEpoch / 1000:F1} s/epoch)");
    }
}
