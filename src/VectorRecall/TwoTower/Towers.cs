using VectorRecall.Autograd;
using VectorRecall.Nn;
using VectorRecall.Numerics;

namespace VectorRecall.TwoTower;

/// <summary>
/// User tower: user id → Embedding, profile features → Linear, behaviour → mean of the history's
/// item embeddings; concatenated and passed through the MLP, then L2-normalised.
/// </summary>
public sealed class UserTower : Module
{
    public UserTower(TwoTowerConfig c, Rng rng)
    {
        Id = RegisterModule("id", new Embedding(c.NumUsers, c.IdDim, rng));
        Profile = RegisterModule("profile", new Linear(c.UserFeatures, c.FeatureDim, rng));
        Behaviour = RegisterModule("behaviour", new EmbeddingBag(c.NumItems, c.BehaviourDim, BagMode.Mean, rng));
        Mlp = RegisterModule("mlp", TowerMlp.Build(c.UserInputDim, c, rng));
    }

    public Embedding Id { get; }
    public Linear Profile { get; }
    public EmbeddingBag Behaviour { get; }
    public Sequential Mlp { get; }

    public Variable Forward(UserBatch batch)
    {
        var x = Ops.ConcatColumns(IdEmbedding(batch.Ids), Profile.Forward(batch.Features), Behaviour.Forward(batch.HistoryItems, batch.HistoryOffsets));
        return Ops.L2NormalizeRows(Mlp.Forward(x));
    }

    /// <summary>Known ids look up their row; an unknown id (−1) gets zeros, so the user is represented by features and history alone.</summary>
    private Variable IdEmbedding(int[] ids)
    {
        if (Array.TrueForAll(ids, i => (uint)i < (uint)Id.Count)) return Id.Forward(ids);
        if (Tape.Current is not null) throw new ArgumentException($"training batch has a user id outside [0, {Id.Count})");
        var e = new Tensor(ids.Length, Id.Dim);
        for (int r = 0; r < ids.Length; r++)
        {
            if (ids[r] == -1) continue;
            if ((uint)ids[r] >= (uint)Id.Count) throw new ArgumentOutOfRangeException(nameof(ids), $"user id {ids[r]} is outside [0, {Id.Count}); pass -1 for an unknown user");
            Id.Weight.Value.Row(ids[r]).CopyTo(e.Row(r));
        }
        return e;
    }
}

/// <summary>
/// Item tower: item id → Embedding, category → Embedding, tags → EmbeddingBag (mean), features →
/// Linear; concatenated and passed through the MLP, then L2-normalised.
/// </summary>
public sealed class ItemTower : Module
{
    public ItemTower(TwoTowerConfig c, Rng rng)
    {
        Id = RegisterModule("id", new Embedding(c.NumItems, c.IdDim, rng));
        Category = RegisterModule("category", new Embedding(c.Categories, c.CategoryDim, rng));
        Tags = RegisterModule("tags", new EmbeddingBag(c.Tags, c.TagDim, BagMode.Mean, rng));
        Features = RegisterModule("features", new Linear(c.ItemFeatures, c.FeatureDim, rng));
        Mlp = RegisterModule("mlp", TowerMlp.Build(c.ItemInputDim, c, rng));
    }

    public Embedding Id { get; }
    public Embedding Category { get; }
    public EmbeddingBag Tags { get; }
    public Linear Features { get; }
    public Sequential Mlp { get; }

    public Variable Forward(ItemBatch batch)
    {
        var x = Ops.ConcatColumns(Id.Forward(batch.Ids), Category.Forward(batch.Categories),
            Tags.Forward(batch.Tags, batch.TagOffsets), Features.Forward(batch.Features));
        return Ops.L2NormalizeRows(Mlp.Forward(x));
    }
}

internal static class TowerMlp
{
    /// <summary>input → [Linear, BatchNorm, ReLU, Dropout] per hidden size → Linear to the embedding dimension.</summary>
    public static Sequential Build(int input, TwoTowerConfig c, Rng rng) =>
        Nn.Mlp.Build([input, .. c.Hidden, c.EmbeddingDim], rng, new MlpOptions { Activation = Activation.Relu, BatchNorm = true, Dropout = c.Dropout });
}

/// <summary>The two towers, whose outputs share one unit-norm space where the inner product scores a user–item pair.</summary>
public sealed class TwoTowerModel : Module
{
    public TwoTowerModel(TwoTowerConfig config, Rng rng)
    {
        config.Validate();
        Config = config;
        User = RegisterModule("user", new UserTower(config, rng));
        Item = RegisterModule("item", new ItemTower(config, rng));
    }

    public TwoTowerConfig Config { get; }
    public UserTower User { get; }
    public ItemTower Item { get; }
}
