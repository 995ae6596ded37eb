using System.Diagnostics;
using VectorRecall.Data;
using VectorRecall.Numerics;
using VectorRecall.Retrieval;
using VectorRecall.Towers;
using VectorRecall.Training;
using VectorRecall.TwoTower;

namespace VectorRecall.Benchmarks;

/// <summary>
/// <c>-- sequence DATASET PATH [epochs] [dim] [blocks] [heads] [dropout] [batch] [lr] [max-length] [negatives]</c>: trains the
/// SASRec-style sequence encoder on a data set's training split (at every position: full softmax, or sampled over shared negatives; selection by
/// validation recall, patience 10), then ranks all items for every test user with train and validation items
/// excluded and prints HR / Recall / NDCG at 10 and 20 with the seconds per epoch. A measurement, not a product path:
/// issue 18 brings the encoder to `vrecall train` and the bundle.
/// </summary>
internal static class SequenceRun
{
    public static void Run(string[] args)
    {
        string name = args[0], path = args[1];
        T Arg<T>(int i, T fallback) where T : IParsable<T> => args.Length > i ? T.Parse(args[i], System.Globalization.CultureInfo.InvariantCulture) : fallback;
        var loaded = DatasetLoaders.Load(name, path);
        var data = RecDataset.FromInteractions(loaded);
        var config = new SequenceEncoderConfig
        {
            NumItems = data.ItemCount, Dim = Arg(3, 64), Blocks = Arg(4, 2), Heads = Arg(5, 1), Dropout = Arg(6, 0.2f), MaxLength = Arg(9, 50),
        };
        var options = new TrainerOptions
        {
            Epochs = Arg(2, 200), BatchSize = Arg(7, 128), LearningRate = Arg(8, 1e-3), WeightDecay = 0, Schedule = Optim.ScheduleKind.Constant, WarmupFraction = 0,
            SelectBy = ModelSelection.Recall, Patience = 10, CheckpointDir = Path.Combine(Path.GetTempPath(), $"vrecall-sequence-{Environment.ProcessId}"),
        };
        var encoder = new SequenceEncoder(config, new Rng(42));
        var trainer = new SequenceTrainer(encoder, data, options, Arg(10, 0));
        Console.WriteLine($"{loaded.Describe()}; {config}; {encoder.ParameterCount:N0} parameters; {trainer.StepsPerEpoch} steps per epoch");
        trainer.EpochCompleted = e => Console.WriteLine($"epoch {e.Epoch}: loss {e.TrainLoss:F4} val_loss {e.ValidationLoss:F4} val_recall@20 {e.ValidationRecall:F4} ({e.Seconds:F1} s)");
        var clock = Stopwatch.StartNew();
        trainer.Train();
        int best = trainer.RestoreBest();
        Console.WriteLine($"trained in {clock.Elapsed.TotalSeconds:F0} s; best epoch {best}");
        var known = data.Train.Concat(data.Validation);
        var users = Enumerable.Range(0, data.UserCount).Where(u => data.Test.CountOf(u) > 0).ToArray();
        var result = trainer.Evaluate(known, data.Test, known, users, [10, 20]);
        foreach (int k in new[] { 10, 20 })
            Console.WriteLine($"@{k}: HR {result.Metrics.Get(RankingMetric.Hit, k):F4} Recall {result.Metrics.Get(RankingMetric.Recall, k):F4} NDCG {result.Metrics.Get(RankingMetric.Ndcg, k):F4}");
        Directory.Delete(options.CheckpointDir, recursive: true);
    }
}
