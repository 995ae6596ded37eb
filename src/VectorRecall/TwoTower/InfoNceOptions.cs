using VectorRecall.Numerics;

namespace VectorRecall.TwoTower;

/// <summary>Which objective the two-tower model trains with.</summary>
public enum LossKind
{
    /// <summary>Softmax cross-entropy over in-batch and sampled negatives, with the logQ correction.</summary>
    InfoNce,
    /// <summary>SimpleX's cosine contrastive loss over sampled negatives (margin, negative weight).</summary>
    Ccl,
}

/// <summary>
/// The two-tower loss's settings (the design note's defaults: InfoNCE with 10 sampled negatives, τ = 0.1,
/// logQ correction). Temperature and logQ apply to InfoNCE; margin and negative weight to CCL.
/// </summary>
public sealed record InfoNceOptions
{
    public LossKind Kind { get; init; } = LossKind.InfoNce;
    public float Temperature { get; init; } = 0.1f;
    /// <summary>Sampled negatives per example, or in all when <see cref="SharedNegatives"/>.</summary>
    public int NumNegatives { get; init; } = 10;
    /// <summary>Draw one set of negatives per batch that every example scores (mixed negative sampling).</summary>
    public bool SharedNegatives { get; init; }
    public SamplerKind Sampler { get; init; } = SamplerKind.Uniform;
    public bool LogQCorrection { get; init; } = true;
    /// <summary>
    /// CCL: negatives whose cosine exceeds this are pushed away. SimpleX's 0.9 (with weight 150) let our towers fold onto
    /// one direction on Gowalla, every pair at the margin; 0.1 with weight 50 trained best of those measured.
    /// </summary>
    public float Margin { get; init; } = 0.1f;
    /// <summary>CCL: the weight of the negatives' mean loss against the positive's.</summary>
    public float NegativeWeight { get; init; } = 50f;

    public void Validate()
    {
        Settings.Check(Temperature > 0, nameof(Temperature), $"must be positive, got {Temperature}");
        Settings.Check(NumNegatives >= 0, nameof(NumNegatives), $"must be non-negative, got {NumNegatives}");
        Settings.Check(Margin > -1 && Margin < 1, nameof(Margin), $"must be in (-1, 1), got {Margin}");
        Settings.Check(NegativeWeight >= 0, nameof(NegativeWeight), $"must be >= 0, got {NegativeWeight}");
        Settings.Check(Kind != LossKind.Ccl || NumNegatives > 0, nameof(NumNegatives), "CCL needs sampled negatives (> 0)");
    }
}
