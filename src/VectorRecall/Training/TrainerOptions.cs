using VectorRecall.Numerics;
using VectorRecall.Optim;

namespace VectorRecall.Training;

/// <summary>
/// How the shared loop trains any model (the design note's defaults: 5 epochs, batch 1024, AdamW at
/// 1e-3). Settings of one model's loss live with that model's trainer.
/// </summary>
public sealed record TrainerOptions
{
    public int Epochs { get; init; } = 5;
    public int BatchSize { get; init; } = 1024;
    public double LearningRate { get; init; } = 1e-3;
    public double WeightDecay { get; init; } = 0.01;
    /// <summary>
    /// Whether weight decay also applies to biases, normalisation weights and embedding tables
    /// (false: only to the other matrices, <see cref="ParameterGroup.DecayMatricesOnly"/>).
    /// </summary>
    public bool DecayAllParameters { get; init; } = true;
    /// <summary>The learning rate after warm-up: constant, or a linear or cosine decay to <see cref="FinalLearningRateFraction"/> of it.</summary>
    public ScheduleKind Schedule { get; init; } = ScheduleKind.Cosine;
    /// <summary>Share of all steps spent warming the learning rate up linearly.</summary>
    public double WarmupFraction { get; init; } = 0.05;
    /// <summary>Where a decaying schedule ends, as a share of <see cref="LearningRate"/>.</summary>
    public double FinalLearningRateFraction { get; init; } = 0.1;
    /// <summary>What makes an epoch the best one (for <c>best_model</c> and <see cref="Patience"/>).</summary>
    public ModelSelection SelectBy { get; init; } = ModelSelection.Loss;
    /// <summary>Stop after this many epochs without a better validation score (0: never stop early).</summary>
    public int Patience { get; init; }
    /// <summary>Write <c>checkpoint_epoch_N</c> every this many epochs (and after the last).</summary>
    public int SaveEvery { get; init; } = 1;
    /// <summary>How many of the most recent <c>checkpoint_epoch_N</c> files to keep (0: all).</summary>
    public int SaveLimit { get; init; }
    public string CheckpointDir { get; init; } = "checkpoints";
    public bool Resume { get; init; }
    public ulong Seed { get; init; } = 42;

    public void Validate()
    {
        Settings.Check(Epochs >= 1, nameof(Epochs), $"must be at least 1, got {Epochs}");
        Settings.Check(BatchSize >= 2, nameof(BatchSize), $"must be at least 2 (batch norm needs two rows), got {BatchSize}");
        Settings.Check(LearningRate > 0, nameof(LearningRate), $"must be positive, got {LearningRate}");
        Settings.Check(WeightDecay >= 0, nameof(WeightDecay), $"must be non-negative, got {WeightDecay}");
        Settings.Check(WarmupFraction is >= 0 and <= 1, nameof(WarmupFraction), $"must be in [0, 1], got {WarmupFraction}");
        Settings.Check(FinalLearningRateFraction is >= 0 and <= 1, nameof(FinalLearningRateFraction), $"must be in [0, 1], got {FinalLearningRateFraction}");
        Settings.Check(Patience >= 0, nameof(Patience), $"must be non-negative, got {Patience}");
        Settings.Check(SaveEvery >= 1, nameof(SaveEvery), $"must be at least 1, got {SaveEvery}");
        Settings.Check(SaveLimit >= 0, nameof(SaveLimit), $"must be non-negative, got {SaveLimit}");
    }
}

/// <summary>
/// How the best epoch is chosen: the lowest validation loss, or the highest validation Recall@20 of
/// exact search over all items (train items excluded). The loss keeps rising long after the
/// ranking has stopped improving (the model grows confident, not wrong), so on real data the
/// ranking is the better judge; it costs one all-item ranking of the validation users per epoch.
/// </summary>
public enum ModelSelection { Loss, Recall }
