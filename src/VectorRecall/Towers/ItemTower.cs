using VectorRecall.Autograd;
using VectorRecall.Nn;
using VectorRecall.Numerics;

namespace VectorRecall.Towers;

/// <summary>
/// Item tower: item id → Embedding, and where the data has them category → Embedding, tags →
/// EmbeddingBag (mean), features → Linear; concatenated and passed through the MLP, then L2-normalised.
/// </summary>
public sealed class ItemTower : Module
{
    public ItemTower(TowerConfig c, Rng rng)
    {
        Id = RegisterModule("id", new Embedding(c.NumItems, c.IdDim, rng, sparse: c.PropagationLayers == 0));
        if (c.Categories > 0) Category = RegisterModule("category", new Embedding(c.Categories, c.CategoryDim, rng));
        if (c.Tags > 0) Tags = RegisterModule("tags", new EmbeddingBag(c.Tags, c.TagDim, BagMode.Mean, rng));
        if (c.ItemFeatures > 0) Features = RegisterModule("features", new Linear(c.ItemFeatures, c.FeatureDim, rng));
        Normalize = c.NormalizeOutput;
        Mlp = RegisterModule("mlp", TowerMlp.Build(c.ItemInputDim, c, rng));
    }

    public Embedding Id { get; }
    /// <summary>Branches the data may not have are null.</summary>
    public Embedding? Category { get; }
    public EmbeddingBag? Tags { get; }
    public Linear? Features { get; }
    public Sequential Mlp { get; }
    /// <summary>Whether the output is L2-normalised (<see cref="TowerConfig.NormalizeOutput"/>).</summary>
    public bool Normalize { get; }

    /// <summary>The batch's item vectors; <paramref name="idTable"/> (the propagated id table, in training) replaces <see cref="Id"/>'s.</summary>
    public Variable Forward(ItemBatch batch, Variable? idTable = null)
    {
        var parts = new List<Variable> { idTable is null ? Id.Forward(batch.Ids) : Ops.GatherRows(idTable, batch.Ids) };
        if (Category is not null) parts.Add(Category.Forward(batch.Categories));
        if (Tags is not null) parts.Add(Tags.Forward(batch.Tags, batch.TagOffsets));
        if (Features is not null) parts.Add(Features.Forward(batch.Features));
        var output = Mlp.Forward(Ops.ConcatColumns([.. parts]));
        return Normalize ? Ops.L2NormalizeRows(output) : output;
    }
}

internal static class TowerMlp
{
    /// <summary>input → [Linear, BatchNorm, ReLU, Dropout] per hidden size → Linear to the embedding dimension.</summary>
    public static Sequential Build(int input, TowerConfig c, Rng rng) =>
        Nn.Mlp.Build([input, .. c.Hidden, c.EmbeddingDim], rng, new MlpOptions { Activation = Activation.Relu, BatchNorm = true, Dropout = c.Dropout, LastBias = c.OutputBias });
}
