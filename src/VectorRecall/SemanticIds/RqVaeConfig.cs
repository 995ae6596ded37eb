using System.Text.Json;
using System.Text.Json.Serialization;

using VectorRecall.Numerics;

namespace VectorRecall.SemanticIds;

/// <summary>How an RQ-VAE's reconstruction is compared with its input.</summary>
public enum ReconstructionLoss { Mse, L1 }

/// <summary>
/// Shape of an RQ-VAE (the design note's index module): an MLP encoder in_dim → layers → e_dim, the
/// mirror-image decoder, and one codebook per entry of <see cref="NumEmbList"/>; plus the loss
/// weights and the Sinkhorn settings that travel with a checkpoint, so generation needs nothing else.
/// </summary>
public sealed record RqVaeConfig
{
    public int InDim { get; init; }
    public int[] Layers { get; init; } = [2048, 1024, 512, 256, 128, 64];
    public int EDim { get; init; } = 32;
    public int[] NumEmbList { get; init; } = [256, 256, 256];
    public float Dropout { get; init; }
    public bool BatchNorm { get; init; }
    public ReconstructionLoss LossType { get; init; } = ReconstructionLoss.Mse;
    public float Beta { get; init; } = 0.25f;
    public float QuantLossWeight { get; init; } = 1f;
    /// <summary>Per level; a level with ε &gt; 0 assigns codes by Sinkhorn-Knopp in training.</summary>
    public float[] SkEpsilons { get; init; } = [0f, 0f, 0f];
    public int SkIters { get; init; } = 50;

    [JsonIgnore] public int Levels => NumEmbList.Length;

    public void Validate()
    {
        if (InDim < 1) throw new ArgumentException($"the input dimension must be positive, got {InDim}");
        Settings.Check(Layers.All(h => h >= 1), nameof(Layers), $"sizes must be positive, got [{string.Join(", ", Layers)}]");
        Settings.Check(EDim >= 1, nameof(EDim), $"must be positive, got {EDim}");
        Settings.Check(NumEmbList.Length > 0, nameof(NumEmbList), "needs at least one codebook size");
        foreach (int n in NumEmbList)
            Settings.Check(n >= 1, nameof(NumEmbList), $"codebook sizes must be positive, got [{string.Join(", ", NumEmbList)}]");
        if (SkEpsilons.Length != NumEmbList.Length)
            throw new SettingException(nameof(SkEpsilons), $"has {SkEpsilons.Length} values for {NumEmbList.Length} levels: give one per codebook");
        if (SkEpsilons.Any(e => !(e >= 0) || float.IsInfinity(e))) throw new SettingException(nameof(SkEpsilons), $"must be finite and >= 0, got [{string.Join(", ", SkEpsilons)}]");
        Settings.Check(SkIters >= 1, nameof(SkIters), $"must be positive, got {SkIters}");
        Settings.Check(Dropout is >= 0 and < 1, nameof(Dropout), $"must lie in [0, 1), got {Dropout}");
        Settings.Check(Beta >= 0, nameof(Beta), $"must be >= 0, got {Beta}");
        Settings.Check(QuantLossWeight >= 0, nameof(QuantLossWeight), $"must be >= 0, got {QuantLossWeight}");
    }

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static RqVaeConfig FromJson(string json, string source) =>
        IO.ConfigJson.Parse<RqVaeConfig>(json, source, Json, c => c.Validate(), "RQ-VAE configuration");
}
