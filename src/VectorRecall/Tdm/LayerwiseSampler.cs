using VectorRecall.Training;
using VectorRecall.Numerics;

namespace VectorRecall.Tdm;

/// <summary>
/// TDM's layer-wise training targets: for a target item, its ancestor on each level 1 … depth is
/// that level's positive, and negatives are drawn uniformly among the level's other nodes (never
/// the positive; all of them when the level has no more than asked for). Every level gets a row of
/// <see cref="Width"/> candidates, the positive first; slots a small level cannot fill repeat the
/// positive and are masked out of the loss (their logit shift is <see cref="InfoNceLoss.MaskedLogit"/>).
/// </summary>
internal sealed class LayerwiseSampler
{
    private readonly ItemTree _tree;
    private readonly int[] _negatives;

    /// <summary>
    /// <paramref name="negativesPerLevel"/>: one count for every level, or one per level 1 … depth; without
    /// <paramref name="leaves"/> the leaf level gets no rows (its embeddings are not trained).
    /// </summary>
    public LayerwiseSampler(ItemTree tree, IReadOnlyList<int> negativesPerLevel, bool leaves = true)
    {
        if (!leaves && tree.Depth < 2) throw new ArgumentException("a tree of depth 1 has no level above its leaves to train");
        Levels = leaves ? tree.Depth : tree.Depth - 1;
        if (negativesPerLevel.Count != 1 && negativesPerLevel.Count != tree.Depth)
            throw new ArgumentException($"negatives per level: give one count, or one per level 1..{tree.Depth} of this tree; got {negativesPerLevel.Count}");
        if (negativesPerLevel.Any(n => n < 0)) throw new ArgumentException($"negatives per level must be >= 0, got [{string.Join(", ", negativesPerLevel)}]");
        _tree = tree;
        _negatives = new int[tree.Depth + 1];
        for (int level = 1; level <= tree.Depth; level++)
            _negatives[level] = Math.Min(negativesPerLevel.Count == 1 ? negativesPerLevel[0] : negativesPerLevel[level - 1], tree.LevelSize(level) - 1);
        Width = 1 + _negatives.Max();
    }

    /// <summary>Trained levels: 1 … depth (the root's level has nothing to choose), or 1 … depth − 1 without the leaves.</summary>
    public int Levels { get; }

    /// <summary>Negatives drawn on <paramref name="level"/> (1 … depth).</summary>
    public int NegativesAt(int level) => _negatives[level];

    /// <summary>Candidates per level row: the positive and the most negatives any level draws.</summary>
    public int Width { get; }

    /// <summary>
    /// Fills <see cref="Levels"/> rows of <see cref="Width"/> node rows for <paramref name="item"/>: row ℓ − 1
    /// is level ℓ, its positive first. <paramref name="shift"/> gets 0 for real candidates and the mask for padding.
    /// </summary>
    public void Fill(int item, Span<int> candidates, Span<float> shift, Rng rng)
    {
        int w = Width;
        if (candidates.Length < Levels * w || shift.Length < Levels * w) throw new ArgumentException($"buffers need {Levels * w} entries");
        for (int node = _tree.LeafOf(item), level = _tree.Depth; level >= 1; node = _tree.Parent(node), level--)
        {
            if (level > Levels) continue;
            var row = candidates.Slice((level - 1) * w, w);
            var mask = shift.Slice((level - 1) * w, w);
            int first = _tree.LevelStart(level), size = _tree.LevelSize(level), positive = node - first, n = _negatives[level];
            row[0] = node;
            mask[0] = 0;
            if (n == size - 1)
                for (int j = 0, other = 0; j < n; j++, other++)
                {
                    if (other == positive) other++;
                    row[1 + j] = first + other;
                }
            else
                for (int j = 0; j < n; j++)
                {
                    int r = rng.NextInt(size - 1);
                    row[1 + j] = first + (r >= positive ? r + 1 : r);
                }
            mask.Slice(1, n).Clear();
            row[(1 + n)..].Fill(node);
            mask[(1 + n)..].Fill(InfoNceLoss.MaskedLogit);
        }
    }
}
