using VectorRecall.Numerics;

namespace VectorRecall.TwoTower;

/// <summary>The two-tower loss's settings (the design note's defaults: 10 sampled negatives, τ = 0.1, logQ correction).</summary>
public sealed record InfoNceOptions
{
    public float Temperature { get; init; } = 0.1f;
    /// <summary>Sampled negatives per example, or in all when <see cref="SharedNegatives"/>.</summary>
    public int NumNegatives { get; init; } = 10;
    /// <summary>Draw one set of negatives per batch that every example scores (mixed negative sampling).</summary>
    public bool SharedNegatives { get; init; }
    public SamplerKind Sampler { get; init; } = SamplerKind.Uniform;
    public bool LogQCorrection { get; init; } = true;

    public void Validate()
    {
        Settings.Check(Temperature > 0, nameof(Temperature), $"must be positive, got {Temperature}");
        Settings.Check(NumNegatives >= 0, nameof(NumNegatives), $"must be non-negative, got {NumNegatives}");
    }
}
