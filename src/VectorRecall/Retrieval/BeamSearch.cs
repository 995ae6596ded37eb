using VectorRecall.Numerics;

namespace VectorRecall.Retrieval;

/// <summary>
/// Top-K retrieval down a tree (TDM's layer-wise beam search): start at the deepest level that has
/// no more than <c>beam</c> nodes and take all of them; on each level below, score the children of
/// the kept nodes and keep the best <c>beam</c>; on the leaf level return the best K items, leaving
/// out the excluded ones. With a scorer that ranks every node by the best leaf below it, this is
/// exact; with a learned scorer, the beam trades time for recall. Per-thread scratch makes a search
/// allocation-free once warm.
/// </summary>
public static class BeamSearch
{
    /// <summary>
    /// The best <paramref name="k"/> items for one query into <paramref name="ids"/>/<paramref name="scores"/>,
    /// best first; returns how many were written (fewer when the tree has fewer items left).
    /// </summary>
    public static int Search(ISearchTree tree, INodeScorer scorer, ReadOnlySpan<float> query, int k, int beam,
        Span<long> ids, Span<float> scores, ReadOnlySpan<int> exclude = default)
    {
        Check(k, beam, ids.Length, scores.Length);
        var s = Scratch.ForThread(beam, tree.MaxChildren);
        int last = tree.LevelCount - 1, start = 0;
        while (start < last && tree.LevelSize(start + 1) <= beam) start++;
        int kept = tree.LevelSize(start);
        for (int i = 0; i < kept; i++) s.Beam[i] = tree.LevelStart(start) + i;
        if (start == last)
        {
            // Every leaf fits in the beam: score them all.
            s.Beam.AsSpan(0, kept).CopyTo(s.Candidates);
            return TopLeaves(tree, scorer, query, s, kept, k, ids, scores, exclude);
        }
        for (int level = start + 1; ; level++)
        {
            int n = 0;
            for (int i = 0; i < kept; i++)
            {
                int first = tree.ChildStart(s.Beam[i]), count = tree.ChildCount(s.Beam[i]);
                for (int c = 0; c < count; c++) s.Candidates[n++] = first + c;
            }
            if (level == last) return TopLeaves(tree, scorer, query, s, n, k, ids, scores, exclude);
            var candidateScores = s.Scores.AsSpan(0, n);
            scorer.Score(query, s.Candidates.AsSpan(0, n), candidateScores);
            var heap = new TopK(Math.Min(beam, n), s.HeapIds, s.HeapScores);
            for (int i = 0; i < n; i++) heap.Push(s.Candidates[i], candidateScores[i]);
            kept = heap.SortBestFirst();
            for (int i = 0; i < kept; i++) s.Beam[i] = (int)s.HeapIds[i];
        }
    }

    /// <summary>
    /// <see cref="Search"/> for every row of <paramref name="queries"/> (dimension <paramref name="dim"/>), on all
    /// cores; row q's results go to [q·k, (q+1)·k) and its count to counts[q]. <paramref name="exclude"/>, when
    /// given, names each query's excluded items.
    /// </summary>
    public static void SearchBatch(ISearchTree tree, INodeScorer scorer, float[] queries, int dim, int k, int beam,
        long[] ids, float[] scores, int[] counts, ExcludedItems? exclude = null)
    {
        int n = counts.Length;
        if (queries.Length != n * dim) throw new ArgumentException($"{queries.Length} query values for {n} queries of dimension {dim}");
        Check(k, beam, ids.Length / Math.Max(1, n), scores.Length / Math.Max(1, n));
        Parallel.For(0, n, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, q =>
            counts[q] = Search(tree, scorer, queries.AsSpan(q * dim, dim), k, beam, ids.AsSpan(q * k, k), scores.AsSpan(q * k, k),
                exclude is null ? default : exclude(q)));
    }

    /// <summary>
    /// <see cref="SearchBatch"/> in the shape of <see cref="UserBatchSearch"/>: row r of
    /// <paramref name="queries"/> is user <c>users[r]</c>, whose <paramref name="exclude"/> items (when given) are left out.
    /// </summary>
    public static void SearchUsers(ISearchTree tree, INodeScorer scorer, int dim, int beam, Data.UserItemLists? exclude,
        ReadOnlySpan<float> queries, ReadOnlySpan<int> users, int k, Span<long> ids, Span<float> scores, Span<int> counts)
    {
        int n = users.Length;
        var userArray = users.ToArray();
        var idArray = new long[n * k];
        var scoreArray = new float[n * k];
        var countArray = new int[n];
        SearchBatch(tree, scorer, queries[..(n * dim)].ToArray(), dim, k, beam, idArray, scoreArray, countArray,
            exclude is null ? null : query => exclude.Of(userArray[query]));
        idArray.CopyTo(ids);
        scoreArray.CopyTo(scores);
        countArray.CopyTo(counts);
    }

    private static void Check(int k, int beam, int idRoom, int scoreRoom)
    {
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k), $"k must be at least 1, got {k}");
        if (beam < k) throw new ArgumentOutOfRangeException(nameof(beam), $"the beam ({beam}) must be at least K ({k}): a beam keeps fewer nodes than the items asked for");
        if (idRoom < k || scoreRoom < k) throw new ArgumentException($"result buffers hold {Math.Min(idRoom, scoreRoom)} entries per query, k is {k}");
    }

    private static int TopLeaves(ISearchTree tree, INodeScorer scorer, ReadOnlySpan<float> query, Scratch s, int n, int k,
        Span<long> ids, Span<float> scores, ReadOnlySpan<int> exclude)
    {
        var candidateScores = s.Scores.AsSpan(0, n);
        scorer.Score(query, s.Candidates.AsSpan(0, n), candidateScores);
        var heap = new TopK(Math.Min(k, n), ids, scores);
        for (int i = 0; i < n; i++)
        {
            int item = tree.LeafItem(s.Candidates[i]);
            if (!exclude.IsEmpty && exclude.Contains(item)) continue;
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
