using VectorRecall.Autograd;
using VectorRecall.Nn;
using VectorRecall.Numerics;

namespace VectorRecall.Towers;

/// <summary>
/// User tower: user id → Embedding, behaviour → mean of the history's item embeddings (the two
/// concatenated, or mixed by a learned gate), profile features → Linear (when the data has them), and
/// optionally the most recent few items → a second bag; concatenated and passed through the MLP,
/// then L2-normalised.
/// </summary>
public sealed class UserTower : Module
{
    public UserTower(TowerConfig c, Rng rng)
    {
        Config = c;
        // Propagation writes a gradient into every row, so the table is then dense.
        Id = RegisterModule("id", new Embedding(c.NumUsers, c.IdDim, rng, sparse: c.PropagationLayers == 0));
        if (c.UserFeatures > 0) Profile = RegisterModule("profile", new Linear(c.UserFeatures, c.FeatureDim, rng));
        Behaviour = RegisterModule("behaviour", new EmbeddingBag(c.NumItems, c.BehaviourDim, BagMode.Mean, rng));
        if (c.RecentLength > 0) Recent = RegisterModule("recent", new EmbeddingBag(c.NumItems, c.BehaviourDim, BagMode.Mean, rng));
        RecentLength = c.RecentLength;
        if (c.GatedBehaviour) Gate = RegisterModule("gate", new Linear(c.IdDim + c.BehaviourDim, c.IdDim, rng));
        Normalize = c.NormalizeOutput;
        Mlp = RegisterModule("mlp", TowerMlp.Build(c.UserInputDim, c, rng));
    }

    public TowerConfig Config { get; }
    public Embedding Id { get; }
    /// <summary>Null when the data has no profile features.</summary>
    public Linear? Profile { get; }
    public EmbeddingBag Behaviour { get; }
    /// <summary>Null unless the configuration asks for a recent-items bag.</summary>
    public EmbeddingBag? Recent { get; }
    public int RecentLength { get; }
    /// <summary>The behaviour gate's projection; null when id and behaviour are concatenated.</summary>
    public Linear? Gate { get; }
    public Sequential Mlp { get; }
    /// <summary>Whether the output is L2-normalised (<see cref="TowerConfig.NormalizeOutput"/>).</summary>
    public bool Normalize { get; }

    /// <summary>The batch's user vectors; <paramref name="idTable"/> (the propagated id table, in training) replaces <see cref="Id"/>'s.</summary>
    public Variable Forward(UserBatch batch, Variable? idTable = null)
    {
        var id = idTable is null ? IdEmbedding(batch.Ids) : Ops.GatherRows(idTable, batch.Ids);
        var behaviour = Behaviour.Forward(batch.HistoryItems, batch.HistoryOffsets);
        Variable? profile = Profile?.Forward(batch.Features);
        // The concatenated order (id, profile, behaviour) is what stored weights were trained on.
        var parts = new List<Variable>();
        if (Gate is null)
        {
            parts.Add(id);
            if (profile is not null) parts.Add(profile);
            parts.Add(behaviour);
        }
        else
        {
            // g ⊙ id + (1 − g) ⊙ bag = bag + g ⊙ (id − bag)
            var g = Ops.Sigmoid(Gate.Forward(Ops.ConcatColumns(id, behaviour)));
            parts.Add(Ops.Add(behaviour, Ops.Mul(g, Ops.Sub(id, behaviour))));
            if (profile is not null) parts.Add(profile);
        }
        if (Recent is not null)
        {
            var (items, offsets) = batch.RecentItems(RecentLength);
            parts.Add(Recent.Forward(items, offsets));
        }
        var output = Mlp.Forward(Ops.ConcatColumns([.. parts]));
        return Normalize ? Ops.L2NormalizeRows(output) : output;
    }

    /// <summary>Known ids look up their row; an unknown id (−1) gets zeros, so the user is represented by features and history alone.</summary>
    private Variable IdEmbedding(int[] ids)
    {
        if (Array.TrueForAll(ids, i => (uint)i < (uint)Id.Count)) return Id.Forward(ids);
        if (Tape.Current is { Recording: true }) throw new ArgumentException($"training batch has a user id outside [0, {Id.Count})");
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
