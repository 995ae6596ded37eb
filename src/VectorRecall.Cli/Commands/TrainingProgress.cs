using Spectre.Console;
using VectorRecall.Training;

namespace VectorRecall.Cli.Commands;

/// <summary>Progress of the shared training loop on the console, for every model's training command.</summary>
internal static class TrainingProgress
{
    /// <summary>
    /// Runs a trainer with a progress bar per epoch and a line per epoch with its losses and checkpoints;
    /// with <paramref name="checkpointEpochsOnly"/> (runs of hundreds of epochs) finished bars go and only
    /// epochs that wrote checkpoints get a line (the checkpoint folder's log has every epoch).
    /// </summary>
    /// <param name="onEpoch">also told of every epoch (a run folder's metrics), printed or not</param>
    public static void Run<TBatch>(EpochTrainer<TBatch> trainer, CancellationToken token, bool checkpointEpochsOnly = false, Action<EpochResult>? onEpoch = null) where TBatch : class
    {
        AnsiConsole.Progress().AutoClear(false).HideCompleted(checkpointEpochsOnly)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                ProgressTask? task = null;
                trainer.StepCompleted = s =>
                {
                    task ??= ctx.AddTask($"Epoch {s.Epoch}", maxValue: s.StepsInEpoch);
                    task.Value = s.Step;
                    if (s.Step % 10 == 0 || s.Step == s.StepsInEpoch)
                        task.Description = $"Epoch {s.Epoch} {s.Step}/{s.StepsInEpoch} {s.StepsPerSecond:F2}it/s loss={s.RunningLoss:F4}";
                };
                trainer.EpochCompleted = e =>
                {
                    task = null;
                    onEpoch?.Invoke(e);
                    if (checkpointEpochsOnly && e.Saved.Count == 0) return;
                    var parts = new List<string> { $"train_loss={e.TrainLoss:F4}" };
                    if (!double.IsNaN(e.ValidationLoss)) parts.Add($"val_loss={e.ValidationLoss:F4}");
                    if (!double.IsNaN(e.ValidationRecall)) parts.Add($"val_recall@{EpochTrainer<TBatch>.SelectionK}={e.ValidationRecall:F4}");
                    parts.Add($"lr={e.LearningRate:F6} ({e.Seconds:F1} s, {e.SamplesPerSecond:N0} samples/s)");
                    if (e.Note.Length > 0) parts.Add(e.Note.Trim());
                    AnsiConsole.MarkupLineInterpolated($"Epoch {e.Epoch}: {string.Join(", ", parts)}");
                    foreach (var path in e.Saved) AnsiConsole.MarkupLineInterpolated($"Checkpoint saved to {path}");
                };
                trainer.Train(token);
            });
    }
}
