using VectorRecall.Data;
using VectorRecall.Numerics;

namespace VectorRecall.Retrieval;

/// <summary>
/// GF-CF's ideal low-pass filter (Shen et al., 2021) as a pair of factor tables: with R̃ = D_u^(−1/2) R D_i^(−1/2) and V
/// the leading k eigenvectors of the item graph R̃ᵀR̃, the filter D_i^(−1/2) V Vᵀ D_i^(1/2) scores item j for interaction
/// row r as Σ_{i ∈ r} (d_i^(−1/2) V_i) · (d_j^(1/2) V_j): a user-side row per history item and an item-side row per
/// candidate. The eigenvectors come from <see cref="TruncatedEigen"/> on R̃ᵀ(R̃·X), never forming the item graph.
/// </summary>
public static class IdealLowPassFilter
{
    /// <summary>
    /// For each of <paramref name="ranks"/>: the user-side rows d_i^(−1/2) V_i and the item-side rows d_j^(1/2) V_j
    /// ([items × k]); one decomposition at the largest rank serves them all (the leading vectors are shared).
    /// An item nobody chose gets zero rows.
    /// </summary>
    public static IReadOnlyList<(Tensor UserSide, Tensor ItemSide)> Factors(UserItemLists interactions, int items, IReadOnlyList<int> ranks, IProgress<int>? progress = null) =>
        Decompose(interactions, items, ranks, progress).Factors;

    /// <summary>
    /// <see cref="Factors"/>, the eigenvalues (descending) of the largest rank's vectors, for a filter that weights each
    /// direction by a function of its eigenvalue (scale the user side's columns), and the eigenvectors themselves
    /// ([items × largest rank]). <paramref name="start"/>, the eigenvectors of a slightly smaller graph (the same items
    /// with fewer interactions), starts the iteration near the answer, which then takes
    /// <see cref="TruncatedEigen.WarmIterations"/> products instead of <see cref="TruncatedEigen.DefaultIterations"/>.
    /// <paramref name="normalization"/> is ε of the graph D_u^(−ε) R D_i^(−ε) (<see cref="UserItemLists.NormalizedMatrix"/>);
    /// the rows are then d_i^(−ε) V_i and d_j^ε V_j (GF-CF: ε = ½).
    /// </summary>
    public static (IReadOnlyList<(Tensor UserSide, Tensor ItemSide)> Factors, float[] Eigenvalues, Tensor Vectors) Decompose(UserItemLists interactions, int items, IReadOnlyList<int> ranks, IProgress<int>? progress = null, Tensor? start = null,
        float normalization = 0.5f)
    {
        if (ranks.Count == 0 || ranks.Any(k => k < 1 || k > items)) throw new ArgumentOutOfRangeException(nameof(ranks), $"ranks must be in [1, {items}], got [{string.Join(", ", ranks)}]");
        var r = interactions.NormalizedMatrix(items, normalization);
        int iterations = start is null ? TruncatedEigen.DefaultIterations : TruncatedEigen.WarmIterations;
        // Each product R̃ᵀ(R̃·X) writes into blocks kept for the whole decomposition: a users-wide one between the two
        // sparse products, and two items-wide ones in turn (the iteration feeds a product's result back in, and
        // Rayleigh–Ritz needs a product beside its input). New blocks per product were hundreds of MB of garbage each.
        Tensor? between = null;
        var blocks = new Tensor[2];
        int turn = 0;
        Tensor Product(Tensor x)
        {
            if (between is null || between.Cols != x.Cols) (between, blocks[0], blocks[1]) = (new Tensor(r.Rows, x.Cols), new Tensor(items, x.Cols), new Tensor(items, x.Cols));
            r.Multiply(x, between);
            var y = blocks[turn ^= 1];
            r.Transposed.Multiply(between, y);
            return y;
        }
        var (values, v) = TruncatedEigen.Top(Product, items, ranks.Max(), new Rng(17), iterations: iterations, progress: progress, start: start);
        var degree = interactions.ItemCounts(items);
        var result = new List<(Tensor, Tensor)>();
        foreach (int rank in ranks)
        {
            var user = new Tensor(items, rank);
            var item = new Tensor(items, rank);
            for (int i = 0; i < items; i++)
            {
                if (degree[i] == 0) continue;
                var row = v.Row(i)[..rank];
                float scale = UserItemLists.DegreePower(degree[i], normalization);
                TensorPrimitives.Multiply(row, 1f / scale, user.Row(i));
                TensorPrimitives.Multiply(row, scale, item.Row(i));
            }
            result.Add((user, item));
        }
        return (result, values, v);
    }
}
