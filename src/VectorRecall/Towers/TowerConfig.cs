using System.Text.Json;
using System.Text.Json.Serialization;

using VectorRecall.Numerics;

namespace VectorRecall.Towers;

/// <summary>
/// Shape of a two-tower model: vocabulary sizes from the data, widths of each input branch, the
/// MLP's hidden sizes and the output dimension. Stored as JSON in checkpoints and bundles, so a
/// file can be matched to the model that reads it.
/// </summary>
public sealed record TowerConfig
{
    public int NumUsers { get; init; }
    public int NumItems { get; init; }
    /// <summary>User profile features; 0 when the data has none (the branch is left out).</summary>
    public int UserFeatures { get; init; }
    /// <summary>Dense item features; 0 when the data has none.</summary>
    public int ItemFeatures { get; init; }
    /// <summary>Item categories; 0 when the data has none.</summary>
    public int Categories { get; init; }
    /// <summary>Tag (attribute) vocabulary; 0 when the data has none.</summary>
    public int Tags { get; init; }
    /// <summary>Width of the user-id and item-id embeddings.</summary>
    public int IdDim { get; init; } = 64;
    /// <summary>Width of the dense-feature projections (both towers).</summary>
    public int FeatureDim { get; init; } = 64;
    /// <summary>Width of the behaviour encoder (mean of the history's item embeddings).</summary>
    public int BehaviourDim { get; init; } = 64;
    public int CategoryDim { get; init; } = 32;
    public int TagDim { get; init; } = 32;
    public int[] Hidden { get; init; } = [256, 128];
    /// <summary>Dimension of the shared user/item space (the index's vectors).</summary>
    public int EmbeddingDim { get; init; } = 128;
    public float Dropout { get; init; } = 0.1f;
    /// <summary>
    /// Probability, in training, that an item's id embedding is replaced by zeros, the id row of an item the model never
    /// saw: the category, tag and feature branches then learn to place an item on their own, as they must for an item put
    /// live by its description (<see cref="ItemFeatureEncoder"/>). 0 (off) by default: it costs the trained items a little.
    /// </summary>
    public float ItemIdDropout { get; init; }
    /// <summary>How many of a user's most recent items feed the behaviour encoder.</summary>
    public int HistoryLength { get; init; } = 20;
    /// <summary>
    /// How many of the most recent history items also get a bag of their own (0: none). In time-ordered
    /// data the last item or two say most about the next one, and a mean over twenty hides them.
    /// </summary>
    public int RecentLength { get; init; }
    /// <summary>
    /// Mix the user-id embedding and the behaviour bag through a learned gate, g ⊙ id + (1 − g) ⊙ bag with
    /// g = σ(Linear([id; bag])) (SimpleX's behaviour aggregation, the weight learned per user and
    /// dimension), instead of concatenating them. Needs <see cref="IdDim"/> = <see cref="BehaviourDim"/>.
    /// </summary>
    public bool GatedBehaviour { get; init; }
    /// <summary>
    /// Whether the towers' last Linear has a bias. Under a cosine loss with a margin, a bias shared by every
    /// vector lets all of them lean one way until every pair, positive or not, sits at the margin.
    /// </summary>
    public bool OutputBias { get; init; } = true;
    /// <summary>
    /// LightGCN layers the id embeddings are propagated through over the training graph while training (0: none).
    /// Serving reads the propagated tables the trainer bakes into the id embeddings, so it never propagates.
    /// </summary>
    public int PropagationLayers { get; init; }
    /// <summary>
    /// Whether the towers L2-normalise their output (the inner product is then the cosine). A closed-form model
    /// whose scores are plain inner products (<c>SpectralTwoTower</c>) turns it off; the index searches by inner product either way.
    /// </summary>
    public bool NormalizeOutput { get; init; } = true;

    [JsonIgnore] public int UserInputDim => (GatedBehaviour ? 0 : IdDim) + (UserFeatures > 0 ? FeatureDim : 0) + BehaviourDim + (RecentLength > 0 ? BehaviourDim : 0);
    [JsonIgnore] public int ItemInputDim => IdDim + (Categories > 0 ? CategoryDim : 0) + (Tags > 0 ? TagDim : 0) + (ItemFeatures > 0 ? FeatureDim : 0);

    public void Validate()
    {
        Check(NumUsers >= 1 && NumItems >= 1, $"the model needs at least one user and item (got {NumUsers} users, {NumItems} items)");
        Check(UserFeatures >= 0 && ItemFeatures >= 0 && Categories >= 0 && Tags >= 0, "feature, category and tag counts must be >= 0 (0: the data has none)");
        Check(IdDim >= 1 && FeatureDim >= 1 && BehaviourDim >= 1 && CategoryDim >= 1 && TagDim >= 1, "branch widths must be >= 1");
        Check(Hidden.All(h => h >= 1), $"hidden sizes must be >= 1, got [{string.Join(", ", Hidden)}]");
        Settings.Check(EmbeddingDim >= 1, nameof(EmbeddingDim), $"must be >= 1, got {EmbeddingDim}");
        Check(Dropout is >= 0 and < 1, $"dropout {Dropout} must be in [0, 1)");
        Check(ItemIdDropout is >= 0 and < 1, $"item id dropout {ItemIdDropout} must be in [0, 1)");
        Check(HistoryLength >= 1, $"history length must be >= 1, got {HistoryLength}");
        Check(!GatedBehaviour || IdDim == BehaviourDim, $"the behaviour gate mixes the id embedding and the bag, so their widths must match (got {IdDim} and {BehaviourDim})");
        Check(PropagationLayers is >= 0 and <= 8, $"propagation layers must be in [0, 8], got {PropagationLayers}");
        Check(RecentLength >= 0 && RecentLength <= HistoryLength, $"recent length must be in [0, history length {HistoryLength}], got {RecentLength}");
    }

    private static void Check(bool ok, string message)
    {
        if (!ok) throw new ArgumentException(message);
    }

    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Parses a configuration written by <see cref="ToJson"/>; <paramref name="source"/> names the file in errors.</summary>
    public static TowerConfig FromJson(string json, string source) =>
        IO.ConfigJson.Parse<TowerConfig>(json, source, Json, c => c.Validate(), "model configuration");

    /// <summary>True when both describe the same parameter shapes.</summary>
    public bool SameShape(TowerConfig other) => ToJson() == other.ToJson();
}
