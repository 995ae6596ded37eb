namespace VectorRecall.Training;

/// <summary>One training step's progress: the running mean loss of the epoch and the step rate.</summary>
public sealed record StepInfo(int Epoch, int Step, int StepsInEpoch, double RunningLoss, double StepsPerSecond);

public sealed record EpochResult(int Epoch, double TrainLoss, double ValidationLoss, double LearningRate, double Seconds, double SamplesPerSecond, IReadOnlyList<string> Saved)
{
    /// <summary>Validation Recall@20 when the trainer selects by recall, NaN otherwise.</summary>
    public double ValidationRecall { get; init; } = double.NaN;
    /// <summary>What the model adds to the epoch's report (its own losses, measurements, re-seeding); "" when nothing.</summary>
    public string Note { get; init; } = "";
}
