using VectorRecall.Indexing;
using VectorRecall.Numerics;

namespace VectorRecall.Retrieval;

/// <summary>
/// Top-K retrieval down a tree (TDM's layer-wise beam search): start at the deepest level that has
/// no more than <c>beam</c> nodes and take all of them; on each level below, score the children of
/// the kept nodes and keep the best <c>beam</c>; on the leaf level return the best K items, leaving
/// out the ones the filter refuses. With a scorer that ranks every node by the best leaf below it, this is
/// exact; with a learned scorer, the beam trades time for recall. Per-thread scratch makes a search
/// allocation-free once warm.
/// </summary>
internal static class BeamSearch
{
    /// <summary>
    /// The best <paramref name="k"/> items for one query into <paramref name="ids"/>/<paramref name="scores"/>,
    /// best first; returns how many were written (fewer when the tree has fewer items left).
    /// </summary>
    public static int Search(ISearchTree tree, INodeScorer scorer, ReadOnlySpan<float> query, int k, int beam,
        Span<long> ids, Span<float> scores, IIdFilter? filter = null)
    {
        Check(k, beam, ids.Length, scores.Length);
        var s = Scratch.ForThread(beam, tree.MaxChildren);
        int n = Descend(tree, scorer, query, beam, s, null);
        return TopLeaves(tree, scorer, query, s, n, k, ids, scores, filter);
    }

    /// <summary>
    /// Walks the tree as <see cref="Search"/> does at width <paramref name="beam"/> and records, level by
    /// level, the nodes the beam reached (those it scored: the children of the level above's beam, the
    /// leaves included) with their scores. Levels the search takes whole, above its start, record nothing.
    /// </summary>
    public static void Trace(ISearchTree tree, INodeScorer scorer, ReadOnlySpan<float> query, int beam, BeamTrace trace)
    {
        if (beam < 1) throw new ArgumentOutOfRangeException(nameof(beam), $"the beam must be at least 1, got {beam}");
        var s = Scratch.ForThread(beam, tree.MaxChildren);
        trace.Reset(tree.LevelCount, beam * tree.MaxChildren);
        int n = Descend(tree, scorer, query, beam, s, trace);
        scorer.Score(query, s.Candidates.AsSpan(0, n), s.Scores.AsSpan(0, n));
        trace.Record(tree.LevelCount - 1, s.Candidates.AsSpan(0, n), s.Scores.AsSpan(0, n));
    }

    /// <summary>
    /// The beam's walk down to the leaves: leaves the leaf level's candidates, not yet scored, in
    /// <c>s.Candidates</c> and returns their count; <paramref name="trace"/> (when given) records each scored level.
    /// </summary>
    private static int Descend(ISearchTree tree, INodeScorer scorer, ReadOnlySpan<float> query, int beam, Scratch s, BeamTrace? trace)
    {
        int last = tree.LevelCount - 1, start = 0;
        while (start < last && tree.LevelSize(start + 1) <= beam) start++;
        int kept = tree.LevelSize(start);
        for (int i = 0; i < kept; i++) s.Beam[i] = tree.LevelStart(start) + i;
        // Every leaf fits in the beam: the candidates are all of them.
        if (start == last)
        {
            s.Beam.AsSpan(0, kept).CopyTo(s.Candidates);
            return kept;
        }
        for (int level = start + 1; ; level++)
        {
            int n = 0;
            for (int i = 0; i < kept; i++)
            {
                int first = tree.ChildStart(s.Beam[i]), count = tree.ChildCount(s.Beam[i]);
                for (int c = 0; c < count; c++) s.Candidates[n++] = first + c;
            }
            if (level == last) return n;
            var candidateScores = s.Scores.AsSpan(0, n);
            scorer.Score(query, s.Candidates.AsSpan(0, n), candidateScores);
            trace?.Record(level, s.Candidates.AsSpan(0, n), candidateScores);
            var heap = new TopK(Math.Min(beam, n), s.HeapIds, s.HeapScores);
            for (int i = 0; i < n; i++) heap.Push(s.Candidates[i], candidateScores[i]);
            kept = heap.SortBestFirst();
            for (int i = 0; i < kept; i++) s.Beam[i] = (int)s.HeapIds[i];
        }
    }

    /// <summary>
    /// <see cref="Search"/> for every row of <paramref name="queries"/> on all cores; row q's results go to
    /// [q·k, (q+1)·k) (slots past its count hold −1 and NaN) and its count to counts[q]. <c>options[q]</c>
    /// (when given) sets the row's beam (<see cref="SearchOptions.Ef"/>; at least k is used) and the items it must not return.
    /// </summary>
    public static void SearchBatch(ISearchTree tree, INodeScorer scorer, ReadOnlySpan<float> queries, int dim, int k, int beam,
        Span<long> ids, Span<float> scores, Span<int> counts, IReadOnlyList<SearchOptions?>? options = null)
    {
        int n = counts.Length;
        if (queries.Length != n * dim) throw new ArgumentException($"{queries.Length} query values for {n} queries of dimension {dim}");
        if (options is not null && options.Count != n) throw new ArgumentException($"{options.Count} search options given for {n} queries (one per query, or none)");
        if (ids.Length < (long)n * k || scores.Length < (long)n * k) throw new ArgumentException($"result buffers are too small for {n} queries × k = {k}");
        // Parallel.For cannot capture spans: work on arrays and copy out.
        var q = queries.ToArray();
        var outIds = new long[n * k];
        var outScores = new float[n * k];
        var outCounts = new int[n];
        Parallel.For(0, n, Threads.Options, i =>
        {
            var o = options?[i];
            int found = outCounts[i] = Search(tree, scorer, q.AsSpan(i * dim, dim), k, WidthFor(o, beam, k), outIds.AsSpan(i * k, k), outScores.AsSpan(i * k, k), o?.Filter);
            outIds.AsSpan(i * k + found, k - found).Fill(-1);
            outScores.AsSpan(i * k + found, k - found).Fill(float.NaN);
        });
        outIds.CopyTo(ids);
        outScores.CopyTo(scores);
        outCounts.CopyTo(counts);
    }

    /// <summary>A search's beam: its own width or the default, and at least k (as HNSW uses at least k for ef).</summary>
    internal static int WidthFor(SearchOptions? options, int beam, int k) => Math.Max(k, options is { Ef: > 0 } ? options.Ef : beam);

    private static void Check(int k, int beam, int idRoom, int scoreRoom)
    {
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k), $"k must be at least 1, got {k}");
        if (beam < k) throw new ArgumentOutOfRangeException(nameof(beam), $"the beam ({beam}) must be at least K ({k}): a beam keeps fewer nodes than the items asked for");
        if (idRoom < k || scoreRoom < k) throw new ArgumentException($"result buffers hold {Math.Min(idRoom, scoreRoom)} entries per query, k is {k}");
    }

    private static int TopLeaves(ISearchTree tree, INodeScorer scorer, ReadOnlySpan<float> query, Scratch s, int n, int k,
        Span<long> ids, Span<float> scores, IIdFilter? filter)
    {
        var candidateScores = s.Scores.AsSpan(0, n);
        scorer.Score(query, s.Candidates.AsSpan(0, n), candidateScores);
        var heap = new TopK(Math.Min(k, n), ids, scores);
        for (int i = 0; i < n; i++)
        {
            int item = tree.LeafItem(s.Candidates[i]);
            if (filter is not null && !filter.Allows(item)) continue;
            heap.Push(item, candidateScores[i]);
        }
        return heap.SortBestFirst();
    }

    /// <summary>One thread's buffers, grown when a search needs more and reused after.</summary>
    private sealed class Scratch
    {
        [ThreadStatic] private static Scratch? _current;
        public int[] Beam = [], Candidates = [];
        public float[] Scores = [], HeapScores = [];
        public long[] HeapIds = [];

        public static Scratch ForThread(int beam, int maxChildren)
        {
            var s = _current ??= new Scratch();
            int candidates = Math.Max(beam * maxChildren, beam);
            if (s.Beam.Length < beam) { s.Beam = new int[beam]; s.HeapIds = new long[beam]; s.HeapScores = new float[beam]; }
            if (s.Candidates.Length < candidates) { s.Candidates = new int[candidates]; s.Scores = new float[candidates]; }
            return s;
        }
    }
}
