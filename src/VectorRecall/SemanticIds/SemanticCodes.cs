namespace VectorRecall.SemanticIds;

/// <summary>
/// Items' codes, one row of <see cref="Levels"/> code positions per item (row-major), with the size of
/// each position's codebook; and the statistics the design note reports on them: the collision
/// rate (N − distinct codes) / N and each level's utilisation (distinct codes used / codebook size).
/// </summary>
public sealed class SemanticCodes
{
    public SemanticCodes(int[] codes, IReadOnlyList<int> codebookSizes)
    {
        int levels = codebookSizes.Count;
        if (levels == 0) throw new ArgumentException("codes need at least one level");
        if (codes.Length % levels != 0) throw new ArgumentException($"{codes.Length} codes do not make rows of {levels}");
        for (int i = 0; i < codes.Length; i++)
            if ((uint)codes[i] >= (uint)codebookSizes[i % levels])
                throw new ArgumentOutOfRangeException(nameof(codes), $"item {i / levels}, level {i % levels}: code {codes[i]} is outside [0, {codebookSizes[i % levels]})");
        Codes = codes;
        CodebookSizes = codebookSizes.ToArray();
    }

    public int[] Codes { get; }
    public int[] CodebookSizes { get; }
    public int Levels => CodebookSizes.Length;
    public int Count => Codes.Length / Levels;

    public ReadOnlySpan<int> Of(int item) => Codes.AsSpan(item * Levels, Levels);

    /// <summary>How many different codes the items have.</summary>
    public int DistinctCount => new HashSet<int>(Enumerable.Range(0, Count), new RowComparer(this)).Count;

    /// <summary>(N − distinct codes) / N: the share of items that cannot be told apart by their code.</summary>
    public double CollisionRate => Count == 0 ? 0 : (double)(Count - DistinctCount) / Count;

    /// <summary>Distinct codes used on <paramref name="level"/>.</summary>
    public int UsedCodes(int level)
    {
        var used = new bool[CodebookSizes[level]];
        int count = 0;
        for (int i = 0; i < Count; i++)
            if (!used[Codes[i * Levels + level]]) { used[Codes[i * Levels + level]] = true; count++; }
        return count;
    }

    /// <summary>Distinct codes used on <paramref name="level"/> / that level's codebook size.</summary>
    public double Utilization(int level) => (double)UsedCodes(level) / CodebookSizes[level];

    /// <summary>Groups (two or more items) that share a code, each in item order.</summary>
    public List<List<int>> CollidingGroups()
    {
        var groups = new Dictionary<int, List<int>>(new RowComparer(this));
        for (int i = 0; i < Count; i++)
        {
            if (!groups.TryGetValue(i, out var group)) groups[i] = group = [];
            group.Add(i);
        }
        return groups.Values.Where(g => g.Count > 1).ToList();
    }

    /// <summary>Compares items by their code rows.</summary>
    private sealed class RowComparer(SemanticCodes codes) : IEqualityComparer<int>
    {
        public bool Equals(int a, int b) => codes.Of(a).SequenceEqual(codes.Of(b));

        public int GetHashCode(int item)
        {
            var hash = new HashCode();
            foreach (int c in codes.Of(item)) hash.Add(c);
            return hash.ToHashCode();
        }
    }
}
