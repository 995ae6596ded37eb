namespace VectorRecall.Optim;

public enum ScheduleKind { Constant, Linear, Cosine }

/// <summary>
/// Learning rate by step: a linear warmup from 0 to the base rate over <c>warmupSteps</c>, then
/// constant, a linear decay to <c>minRate</c>, or a half cosine to <c>minRate</c> at <c>totalSteps</c>.
/// </summary>
public sealed class LrSchedule
{
    public LrSchedule(ScheduleKind kind, double baseRate, int totalSteps, int warmupSteps = 0, double minRate = 0)
    {
        if (totalSteps <= 0) throw new ArgumentOutOfRangeException(nameof(totalSteps), $"total steps {totalSteps} must be positive");
        if (warmupSteps < 0 || warmupSteps > totalSteps) throw new ArgumentOutOfRangeException(nameof(warmupSteps), $"warmup steps {warmupSteps} must lie in [0, {totalSteps}]");
        Kind = kind; BaseRate = baseRate; TotalSteps = totalSteps; WarmupSteps = warmupSteps; MinRate = minRate;
    }

    public ScheduleKind Kind { get; }
    public double BaseRate { get; }
    public int TotalSteps { get; }
    public int WarmupSteps { get; }
    public double MinRate { get; }

    /// <summary>The rate for 0-based step <paramref name="step"/>.</summary>
    public double At(int step)
    {
        if (step < WarmupSteps) return BaseRate * (step + 1) / WarmupSteps;
        if (Kind == ScheduleKind.Constant) return BaseRate;
        int span = TotalSteps - WarmupSteps;
        double progress = span <= 0 ? 1 : Math.Clamp((double)(step - WarmupSteps) / span, 0, 1);
        return Kind == ScheduleKind.Linear
            ? MinRate + (BaseRate - MinRate) * (1 - progress)
            : MinRate + 0.5 * (BaseRate - MinRate) * (1 + Math.Cos(Math.PI * progress));
    }

    /// <summary>Sets the optimiser's rate for <paramref name="step"/> and returns it.</summary>
    public double Apply(Optimizer optimizer, int step) => optimizer.LearningRate = At(step);
}
