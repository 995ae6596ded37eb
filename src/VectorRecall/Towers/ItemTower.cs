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
        IdDropout = c.ItemIdDropout;
        // Drawn only when used, so that a model without it is initialised as before, weight for weight.
        if (IdDropout > 0) _idDropoutRng = rng.Fork(0x1DD0);
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
    /// <summary>Probability in training that an item's id embedding is zeroed (<see cref="TowerConfig.ItemIdDropout"/>).</summary>
    public float IdDropout { get; }
    private readonly Rng? _idDropoutRng;

    /// <summary>The batch's item vectors; <paramref name="idTable"/> (the propagated id table, in training) replaces <see cref="Id"/>'s.</summary>
    public Variable Forward(ItemBatch batch, Variable? idTable = null)
    {
        var id = idTable is null ? Id.Forward(batch.Ids) : Ops.GatherRows(idTable, batch.Ids);
        var parts = new List<Variable> { Training && IdDropout > 0 ? Ops.Mul(id, new Variable(UnseenMask(batch.Count))) : id };
        if (Category is not null) parts.Add(Category.Forward(batch.Categories));
        if (Tags is not null) parts.Add(Tags.Forward(batch.Tags, batch.TagOffsets));
        if (Features is not null) parts.Add(Features.Forward(batch.Features));
        var output = Mlp.Forward(Ops.ConcatColumns([.. parts]));
        return Normalize ? Ops.L2NormalizeRows(output) : output;
    }

    /// <summary>[batch × id width] of ones, each row zeros with probability <see cref="IdDropout"/> (no rescaling: a dropped row is an unseen item's id, not noise).</summary>
    private Tensor UnseenMask(int rows)
    {
        var mask = new Tensor(rows, Id.Weight.Value.Cols);
        for (int r = 0; r < rows; r++)
            if (_idDropoutRng!.NextFloat() >= IdDropout) mask.Row(r).Fill(1f);
        return mask;
    }
}

internal static class TowerMlp
{
    /// <summary>input → [Linear, BatchNorm, ReLU, Dropout] per hidden size → Linear to the embedding dimension.</summary>
    public static Sequential Build(int input, TowerConfig c, Rng rng) =>
        Nn.Mlp.Build([input, .. c.Hidden, c.EmbeddingDim], rng, new MlpOptions { Activation = Activation.Relu, BatchNorm = true, Dropout = c.Dropout, LastBias = c.OutputBias });
}
