using VectorRecall.Nn;
using VectorRecall.Numerics;

namespace VectorRecall.Towers;

/// <summary>
/// The forward pass of a <see cref="UserTower"/> in evaluation mode for serving, one user at a time: no tape, no closures,
/// every intermediate in a per-thread workspace, so a warm call allocates nothing (the autograd path allocates about 9 KiB
/// of tensors and closures per user). The arithmetic is <see cref="UserTower.Forward"/>'s, layer for layer: batch norm with
/// its running statistics, dropout as the identity. Weights are read at each call, so the tower may be reloaded under it.
/// </summary>
internal sealed class TowerInference
{
    private readonly UserTower _tower;
    private readonly ThreadLocal<Workspace> _workspaces;

    public TowerInference(UserTower tower)
    {
        foreach (var layer in tower.Mlp.Layers)
            if (layer is not (Linear or BatchNorm1d or Relu or PRelu or Sigmoid or Tanh or Dropout))
                throw new NotSupportedException($"the serving path has no forward for a {layer.GetType().Name} layer");
        _tower = tower;
        var c = tower.Config;
        // Rows wide enough for the MLP's input and every layer's output, and for the gate's input (id beside the bag).
        int widest = Math.Max(Math.Max(c.UserInputDim, c.IdDim + c.BehaviourDim), tower.Mlp.Layers.OfType<Linear>().Select(l => l.OutFeatures).DefaultIfEmpty(0).Max());
        _workspaces = new(() => new Workspace(widest, c.IdDim, c.BehaviourDim));
    }

    private sealed class Workspace(int widest, int idDim, int behaviourDim)
    {
        public readonly float[] A = new float[widest], B = new float[widest];
        public readonly float[] Id = new float[idDim], Behaviour = new float[behaviourDim], Gate = new float[idDim];
    }

    /// <summary>
    /// Writes the user's vector into <paramref name="destination"/> (<see cref="TowerConfig.EmbeddingDim"/> floats).
    /// <paramref name="userRow"/> is the id table's row, or −1 for a user the tower does not know (its id embedding is zero);
    /// <paramref name="features"/> the profile (empty when the model takes none), <paramref name="history"/> the items the
    /// behaviour bag reads (already cut to <see cref="TowerConfig.HistoryLength"/>). The caller has validated all three.
    /// </summary>
    public void Encode(int userRow, ReadOnlySpan<float> features, ReadOnlySpan<int> history, Span<float> destination)
    {
        var t = _tower;
        var c = t.Config;
        var w = _workspaces.Value!;
        var id = w.Id.AsSpan();
        if (userRow >= 0) t.Id.Weight.Value.Row(userRow).CopyTo(id);
        else id.Clear();
        var behaviour = w.Behaviour.AsSpan();
        MeanOfRows(t.Behaviour.Weight.Value, history, behaviour);

        // The input in the order Forward concatenates it: (id, profile, behaviour) or (gated mix, profile), then recent.
        var input = w.A.AsSpan(0, c.UserInputDim);
        int at = 0;
        if (t.Gate is { } gate)
        {
            var both = w.B.AsSpan(0, id.Length + behaviour.Length);
            id.CopyTo(both);
            behaviour.CopyTo(both[id.Length..]);
            var g = w.Gate.AsSpan();
            gate.Apply(both, 1, g);
            TensorPrimitives.Sigmoid(g, g);
            // g ⊙ id + (1 − g) ⊙ bag = bag + g ⊙ (id − bag)
            TensorPrimitives.Subtract(id, behaviour, id);
            TensorPrimitives.MultiplyAdd(g, id, behaviour, input[..behaviour.Length]);
            at = behaviour.Length;
            if (t.Profile is { } profile) { profile.Apply(features, 1, input.Slice(at, c.FeatureDim)); at += c.FeatureDim; }
        }
        else
        {
            id.CopyTo(input); at = id.Length;
            if (t.Profile is { } profile) { profile.Apply(features, 1, input.Slice(at, c.FeatureDim)); at += c.FeatureDim; }
            behaviour.CopyTo(input[at..]); at += behaviour.Length;
        }
        if (t.Recent is { } recent)
        {
            MeanOfRows(recent.Weight.Value, history[Math.Max(0, history.Length - t.RecentLength)..], input.Slice(at, c.BehaviourDim));
            at += c.BehaviourDim;
        }

        // The MLP, ping-ponging between the two workspace rows.
        float[] x = w.A, y = w.B;
        int width = at;
        var layers = t.Mlp.Layers;
        for (int l = 0; l < layers.Count; l++)  // by index: a foreach over the interface would box its enumerator
        {
            switch (layers[l])
            {
                case Linear linear:
                    linear.Apply(x.AsSpan(0, width), 1, y.AsSpan(0, linear.OutFeatures));
                    width = linear.OutFeatures;
                    (x, y) = (y, x);
                    break;
                case BatchNorm1d norm:
                    var row = x.AsSpan(0, width);
                    var mean = norm.RunningMean.Span; var variance = norm.RunningVar.Span;
                    var gamma = norm.Weight.Value.Span; var beta = norm.Bias.Value.Span;
                    for (int j = 0; j < width; j++) row[j] = (row[j] - mean[j]) * (1f / MathF.Sqrt(variance[j] + norm.Eps)) * gamma[j] + beta[j];
                    break;
                case Relu: TensorPrimitives.Max(x.AsSpan(0, width), 0f, x.AsSpan(0, width)); break;
                case Sigmoid: TensorPrimitives.Sigmoid(x.AsSpan(0, width), x.AsSpan(0, width)); break;
                case Tanh: TensorPrimitives.Tanh(x.AsSpan(0, width), x.AsSpan(0, width)); break;
                case PRelu prelu:
                    var slopes = prelu.Alpha.Value.Span;
                    for (int j = 0; j < width; j++) if (x[j] <= 0) x[j] *= slopes[slopes.Length == 1 ? 0 : j];
                    break;
                // Dropout: the identity in evaluation.
            }
        }
        var output = x.AsSpan(0, width);
        if (t.Normalize) TensorPrimitives.Divide(output, MathF.Max(TensorPrimitives.Norm(output), 1e-12f), destination);
        else output.CopyTo(destination);
    }

    /// <summary>The mean of the table's rows at <paramref name="rows"/> (zeros for none), as a mean embedding bag.</summary>
    private static void MeanOfRows(Tensor table, ReadOnlySpan<int> rows, Span<float> mean)
    {
        mean.Clear();
        foreach (int r in rows) TensorPrimitives.Add(mean, table.Row(r), mean);
        if (rows.Length > 0) TensorPrimitives.Multiply(mean, 1f / rows.Length, mean);
    }
}
