using VectorRecall.Training;
using VectorRecall.Numerics;
using VectorRecall.Retrieval;

namespace VectorRecall.Tdm;

/// <summary>
/// Beam-search-aware training rows (after OTM, Zhuo et al., 2020): each level is trained on the nodes
/// the beam actually reaches for the user, so the objective is the one search uses. A beam search
/// with the current model (<see cref="BeamSearch.Trace"/>) gives each level's reached nodes; the
/// highest-scored of them replace a row's first negatives (the rest stay uniform). A node's target is
/// the best of its descendants' labels: a node above any of the user's items is a positive, so such
/// nodes are masked out of the negatives (the row's own positive stays its first entry).
/// </summary>
internal sealed class BeamNegatives(ItemTree tree, INodeScorer scorer, LayerwiseSampler sampler, int beam)
{
    /// <summary>One thread's buffers.</summary>
    public sealed class State(int nodes, int width)
    {
        public readonly BeamTrace Trace = new();
        public readonly int[] Stamps = new int[nodes];
        public int Stamp;
        public readonly long[] HeapIds = new long[width];
        public readonly float[] HeapScores = new float[width];
    }

    // One state per thread for the trainer's lifetime: a step's parallel loop reuses them instead of allocating a
    // node-sized stamp array per worker per batch.
    private readonly ThreadLocal<State> _states = new(() => new State(tree.NodeCount, sampler.Width));

    /// <summary>The calling thread's buffers.</summary>
    public State ThreadState => _states.Value!;

    /// <summary>
    /// Rewrites one example's rows (as <see cref="LayerwiseSampler.Fill"/> left them) for a user with query
    /// vector <paramref name="user"/> whose positives are <paramref name="userItems"/>.
    /// </summary>
    public void Apply(ReadOnlySpan<float> user, ReadOnlySpan<int> userItems, Span<int> candidates, Span<float> shift, State s)
    {
        int w = sampler.Width;
        if (++s.Stamp == int.MaxValue) { Array.Clear(s.Stamps); s.Stamp = 1; }
        MarkTargets(tree, userItems, s.Stamps, s.Stamp);
        BeamSearch.Trace(tree, scorer, user, beam, s.Trace);
        for (int level = 1; level <= sampler.Levels; level++)
        {
            var row = candidates.Slice((level - 1) * w, w);
            var mask = shift.Slice((level - 1) * w, w);
            var reached = s.Trace.Nodes(level);
            int n = sampler.NegativesAt(level);
            if (reached.Length > 0 && n > 0)
            {
                var scores = s.Trace.Scores(level);
                var heap = new TopK(n, s.HeapIds, s.HeapScores);
                for (int i = 0; i < reached.Length; i++)
                    if (s.Stamps[reached[i]] != s.Stamp) heap.Push(reached[i], scores[i]);
                int hard = heap.SortBestFirst();
                for (int j = 0; j < hard; j++) row[1 + j] = (int)s.HeapIds[j];
            }
            for (int j = 1; j <= n; j++)
                if (s.Stamps[row[j]] == s.Stamp) mask[j] = InfoNceLoss.MaskedLogit;
        }
    }

    /// <summary>
    /// Marks (<paramref name="stamps"/>[node] = <paramref name="stamp"/>) every node whose target is 1 for a user with
    /// positives <paramref name="items"/>: a node's target is the maximum of its descendant leaves' labels.
    /// </summary>
    public static void MarkTargets(ItemTree tree, ReadOnlySpan<int> items, int[] stamps, int stamp)
    {
        foreach (int item in items)
            for (int node = tree.LeafOf(item); node >= 0 && stamps[node] != stamp; node = tree.Parent(node))
                stamps[node] = stamp;
    }
}
