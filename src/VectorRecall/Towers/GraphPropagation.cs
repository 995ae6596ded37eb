using VectorRecall.Autograd;
using VectorRecall.Data;
using VectorRecall.Numerics;

namespace VectorRecall.Towers;

/// <summary>
/// LightGCN's propagation (He et al., 2020) over the user–item graph of the training interactions:
/// with R̃ = D_u^(−1/2) R D_i^(−1/2) (each edge weighted by 1/√(deg u · deg i)), a layer takes users to
/// R̃·items and items to R̃ᵀ·users, and the result is the mean of layers 0 .. K. An id's vector then carries
/// its neighbours' up to K hops away, which is how an item learns from the users who chose it. Every step
/// propagates the whole graph (2K sparse products forward and as many back), so its cost grows with the
/// interactions, not the batch: large batches amortise it.
/// </summary>
internal sealed class GraphPropagation
{
    private readonly SparseMatrix _userItems, _itemUsers;

    public GraphPropagation(UserItemLists train, int items, int layers)
    {
        if (layers < 1) throw new ArgumentOutOfRangeException(nameof(layers), $"propagation needs at least one layer, got {layers}");
        Layers = layers;
        _userItems = train.NormalizedMatrix(items);
        _itemUsers = _userItems.Transposed;
    }

    public int Layers { get; }

    /// <summary>The propagated user and item tables from layer-0 tables [users × d] and [items × d].</summary>
    public (Variable Users, Variable Items) Forward(Variable users, Variable items)
    {
        if (users.Rows != _userItems.Rows || items.Rows != _userItems.Cols || users.Cols != items.Cols)
            throw new ArgumentException($"propagation over {_userItems.Rows} users and {_userItems.Cols} items got tables {users.Rows}x{users.Cols} and {items.Rows}x{items.Cols}");
        Variable u = users, i = items, sumU = users, sumI = items;
        for (int k = 0; k < Layers; k++)
        {
            (u, i) = (Ops.SparseMatMul(_userItems, i), Ops.SparseMatMul(_itemUsers, u));
            sumU = Ops.Add(sumU, u);
            sumI = Ops.Add(sumI, i);
        }
        float mean = 1f / (Layers + 1);
        return (Ops.Scale(sumU, mean), Ops.Scale(sumI, mean));
    }

    /// <summary>The propagated tables as plain tensors, outside any tape.</summary>
    public (Tensor Users, Tensor Items) Propagate(Tensor users, Tensor items) => Tape.NoGrad(() =>
    {
        var (u, i) = Forward(users, items);
        return (u.Value, i.Value);
    });
}
