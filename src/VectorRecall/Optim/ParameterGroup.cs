using VectorRecall.Autograd;

namespace VectorRecall.Optim;

/// <summary>
/// Parameters that share optimiser settings (one of <c>torch.optim</c>'s <c>param_groups</c>);
/// <see cref="WeightDecay"/> null takes the optimiser's.
/// </summary>
public sealed record ParameterGroup(IEnumerable<Parameter> Parameters, double? WeightDecay = null)
{
    /// <summary>
    /// The usual split for decoupled weight decay: matrices decay; biases and normalisation weights
    /// (vectors) and embedding tables (row-sparse) do not, since shrinking them towards zero shifts
    /// or rescales every output instead of regularising a mapping.
    /// </summary>
    public static ParameterGroup[] DecayMatricesOnly(IEnumerable<Parameter> parameters)
    {
        var all = parameters.ToList();
        bool Decays(Parameter p) => p.Value.Rank >= 2 && !p.RowSparse;
        return [new ParameterGroup(all.Where(Decays).ToList()), new ParameterGroup(all.Where(p => !Decays(p)).ToList(), WeightDecay: 0)];
    }
}
