using VectorRecall.Numerics;

namespace VectorRecall.Tdm;

/// <summary>How items are grouped into subtrees: by balanced k-means on their embeddings, at random (an ablation), or by category then id.</summary>
public enum TreeBuildMode { KMeans, Random, Category }

public sealed record TreeBuildOptions
{
    public TreeBuildMode Mode { get; init; } = TreeBuildMode.KMeans;
    /// <summary>Children per node.</summary>
    public int Branch { get; init; } = 2;
    public int KMeansIterations { get; init; } = 20;
    public ulong Seed { get; init; } = 42;
    /// <summary>Subsets of at least this many items are split side by side on <see cref="Threads.Count"/> threads.</summary>
    public const int ParallelSubset = 4096;

    public void Validate()
    {
        Settings.Check(Branch >= 2, nameof(Branch), $"must be at least 2, got {Branch}");
        if (KMeansIterations < 1) throw new ArgumentException($"k-means iterations must be at least 1, got {KMeansIterations}");
    }
}

/// <summary>
/// Builds a TDM item tree top-down: a set of items is split into <c>branch</c> parts whose sizes
/// differ by at most one, each part becomes a child subtree, until single items remain; a single
/// item above the last level goes down through first children, so every leaf is on the last level.
/// In k-means mode a split is a k-means on the set's embeddings, then balanced: while a part is
/// over its size, its point farthest from its centroid moves to the nearest part with room. Each
/// node's embedding is the mean of its children's. Rows are moved as they are split, so every
/// subset is contiguous in memory and subsets are split in parallel.
/// </summary>
public static class TreeBuilder
{
    public static ItemTree Build(Tensor items, TreeBuildOptions options, ReadOnlySpan<int> categories = default, IProgress<int>? progress = null, CancellationToken cancel = default)
    {
        options.Validate();
        int n = items.Rows, dim = items.Cols, branch = options.Branch;
        if (n < 2) throw new ArgumentException($"a tree needs at least 2 items, got {n}");
        if (dim < 1) throw new ArgumentException("item embeddings have no columns");
        for (int i = 0; i < items.Span.Length; i++)
            if (!float.IsFinite(items.Span[i])) throw new ArgumentException($"item {i / dim} has a non-finite embedding value at column {i % dim}");
        if (options.Mode == TreeBuildMode.Category && categories.Length != n)
            throw new ArgumentException($"category mode needs one category per item: {categories.Length} categories for {n} items");

        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        if (options.Mode == TreeBuildMode.Random) new Rng(options.Seed).Shuffle(order.AsSpan());
        if (options.Mode == TreeBuildMode.Category)
        {
            var keys = categories.ToArray();
            // By category, and by id within a category (Array.Sort is not stable).
            Array.Sort(keys, order);
            SortTiesById(keys, order);
        }
        var job = new Job(options, ItemTree.DepthFor(n, branch), n, progress, cancel);
        if (options.Mode == TreeBuildMode.KMeans)
        {
            var source = items.Span.ToArray();
            job.Split(0, n, 0, 0, new Buffers(source, order), new Buffers(new float[source.Length], new int[n]), dim);
        }
        else job.Split(0, n, 0, 0, new Buffers([], order), null, dim);

        var tree = ItemTree.FromLeafCodes(branch, job.Depth, job.LeafCodes, dim);
        tree.SetLeafEmbeddings(items);
        return tree;
    }

    private static void SortTiesById(int[] keys, int[] order)
    {
        for (int start = 0; start < keys.Length;)
        {
            int end = start;
            while (end < keys.Length && keys[end] == keys[start]) end++;
            Array.Sort(order, start, end - start);
            start = end;
        }
    }

    /// <summary>Item rows (row-major) and which item each row is.</summary>
    private sealed record Buffers(float[] Rows, int[] Items);

    private sealed class Job(TreeBuildOptions o, int depth, int n, IProgress<int>? progress, CancellationToken cancel)
    {
        public int Depth { get; } = depth;
        public long[] LeafCodes { get; } = new long[n];
        private int _placed;

        /// <summary>Places rows [lo, hi) of <paramref name="from"/> under node <paramref name="code"/> on <paramref name="level"/>; <paramref name="to"/> receives split rows (null: no data to move).</summary>
        public void Split(int lo, int hi, long code, int level, Buffers from, Buffers? to, int dim)
        {
            cancel.ThrowIfCancellationRequested();
            int m = hi - lo, b = o.Branch;
            if (m == 1)
            {
                for (; level < Depth; level++) code = code * b + 1;
                LeafCodes[from.Items[lo]] = code;
                int placed = Interlocked.Increment(ref _placed);
                if ((placed & 1023) == 0 || placed == LeafCodes.Length) progress?.Report(placed);
                return;
            }
            int parts = Math.Min(b, m);
            var bounds = new int[parts + 1];
            bounds[0] = lo;
            Buffers next = from;
            if (to is not null && m > b)
            {
                var sizes = Cluster(lo, m, code, from, to, dim);
                for (int j = 0; j < parts; j++) bounds[j + 1] = bounds[j] + sizes[j];
                next = to;
            }
            else for (int j = 0; j < parts; j++) bounds[j + 1] = bounds[j] + m / parts + (j < m % parts ? 1 : 0);

            var after = next == to ? from : to;
            void Child(int j) => Split(bounds[j], bounds[j + 1], code * b + 1 + j, level + 1, next, after, dim);
            if (m >= TreeBuildOptions.ParallelSubset && Threads.Count > 1)
                Parallel.For(0, parts, Threads.Options, Child);
            else for (int j = 0; j < parts; j++) Child(j);
        }

        /// <summary>Balanced k-means of rows [lo, lo + m) of <paramref name="from"/>, written part by part into the same rows of <paramref name="to"/>; returns the part sizes.</summary>
        private int[] Cluster(int lo, int m, long code, Buffers from, Buffers to, int dim)
        {
            int b = o.Branch;
            var points = Tensor.FromArray(from.Rows, from.Rows.Length / dim, dim).RowRange(lo, m);
            var rng = new Rng(o.Seed ^ ((ulong)code * 0x9E3779B97F4A7C15UL));
            var fit = KMeans.Fit(points, b, o.KMeansIterations, rng, parallel: Threads.Count > 1 && m >= TreeBuildOptions.ParallelSubset);
            var cluster = fit.Assignment;
            var counts = new int[b];
            foreach (int c in cluster) counts[c]++;
            // The m mod b largest clusters may keep one extra point.
            var bySize = Enumerable.Range(0, b).OrderByDescending(c => counts[c]).ThenBy(c => c).ToArray();
            var target = new int[b];
            for (int r = 0; r < b; r++) target[bySize[r]] = m / b + (r < m % b ? 1 : 0);
            foreach (int c in bySize)
            {
                if (counts[c] <= target[c]) continue;
                var members = Enumerable.Range(0, m).Where(i => cluster[i] == c)
                    .OrderByDescending(i => Distances.SquaredL2(points.Row(i), fit.Centroids.Row(c))).ThenBy(i => i).ToArray();
                for (int t = 0; counts[c] > target[c]; t++)
                {
                    int i = members[t], best = -1;
                    float bestDistance = float.PositiveInfinity;
                    for (int other = 0; other < b; other++)
                    {
                        if (counts[other] >= target[other]) continue;
                        float d = Distances.SquaredL2(points.Row(i), fit.Centroids.Row(other));
                        if (d < bestDistance) { bestDistance = d; best = other; }
                    }
                    cluster[i] = best;
                    counts[c]--;
                    counts[best]++;
                }
            }
            var at = new int[b];
            for (int c = 1; c < b; c++) at[c] = at[c - 1] + counts[c - 1];
            for (int i = 0; i < m; i++)
            {
                int dest = lo + at[cluster[i]]++;
                points.Row(i).CopyTo(to.Rows.AsSpan(dest * dim, dim));
                to.Items[dest] = from.Items[lo + i];
            }
            return counts;
        }
    }
}
