using VectorRecall.Training;
using VectorRecall.Numerics;
using VectorRecall.Retrieval;
using VectorRecall.Tdm;

namespace VectorRecall.Tests.Tdm;

public class BeamNegativesTests
{
    private static IEnumerable<int> LeavesBelow(ItemTree tree, int node) =>
        tree.ChildCount(node) == 0 ? [node] : Enumerable.Range(tree.ChildStart(node), tree.ChildCount(node)).SelectMany(c => LeavesBelow(tree, c));

    [Fact]
    public void TargetsAreTheMaximumOfTheLeavesBelow()
    {
        var tree = TreeBuilder.Build(Tensor.Randn(new Rng(2), 1f, 300, 3), new TreeBuildOptions { Branch = 3 });
        var rng = new Rng(5);
        var stamps = new int[tree.NodeCount];
        for (int trial = 1; trial <= 20; trial++)
        {
            var items = Enumerable.Range(0, 1 + rng.NextInt(12)).Select(_ => rng.NextInt(300)).ToArray();
            BeamNegatives.MarkTargets(tree, items, stamps, trial);
            for (int node = 0; node < tree.NodeCount; node++)
            {
                bool brute = LeavesBelow(tree, node).Any(leaf => items.Contains(tree.LeafItem(leaf)));
                Assert.Equal(brute, stamps[node] == trial);
            }
        }
    }

    [Fact]
    public void TheTraceHoldsWhatTheBeamReachedAndItsLeavesGiveTheSearchResult()
    {
        var rng = new Rng(4);
        var tree = TreeBuilder.Build(Tensor.Randn(rng, 1f, 500, 6), new TreeBuildOptions());
        var scorer = new DotNodeScorer(Tensor.Randn(rng, 1f, tree.NodeCount, 6));
        var trace = new BeamTrace();
        var query = Tensor.Randn(rng, 1f, 1, 6).Row(0).ToArray();
        BeamSearch.Trace(tree, scorer, query, 8, trace);
        int start = 0;
        while (tree.LevelSize(start + 1) <= 8) start++;
        for (int level = 0; level <= start; level++) Assert.Equal(0, trace.Nodes(level).Length);
        for (int level = start + 1; level <= tree.Depth; level++)
        {
            var nodes = trace.Nodes(level);
            Assert.InRange(nodes.Length, 1, 16);
            foreach (int n in nodes) Assert.InRange(n, tree.LevelStart(level), tree.LevelStart(level) + tree.LevelSize(level) - 1);
            // Each level's nodes are the children of the best 8 reached above.
            if (level > start + 1)
            {
                var above = trace.Nodes(level - 1).ToArray().Zip(trace.Scores(level - 1).ToArray()).OrderByDescending(p => p.Second).Take(8).Select(p => p.First).ToHashSet();
                foreach (int n in nodes) Assert.Contains(tree.Parent(n), above);
            }
        }
        var ids = new long[5];
        var scores = new float[5];
        Assert.Equal(5, BeamSearch.Search(tree, scorer, query, 5, 8, ids, scores));
        var leaves = trace.Nodes(tree.Depth).ToArray().Zip(trace.Scores(tree.Depth).ToArray()).OrderByDescending(p => p.Second).Take(5).Select(p => (long)tree.LeafItem(p.First));
        Assert.Equal(leaves, ids);
    }

    [Fact]
    public void RowsTakeTheBeamsBestNodesAndNeverAnotherPositiveAsANegative()
    {
        var rng = new Rng(6);
        var tree = TreeBuilder.Build(Tensor.Randn(rng, 1f, 400, 4), new TreeBuildOptions());
        var scorer = new DotNodeScorer(Tensor.Randn(rng, 1f, tree.NodeCount, 4));
        var sampler = new LayerwiseSampler(tree, [6]);
        var negatives = new BeamNegatives(tree, scorer, sampler, beam: 4);
        var state = negatives.ThreadState;
        int w = sampler.Width;
        var candidates = new int[tree.Depth * w];
        var shift = new float[tree.Depth * w];
        var trace = new BeamTrace();
        var stamps = new int[tree.NodeCount];
        for (int trial = 0; trial < 30; trial++)
        {
            var query = Tensor.Randn(rng, 1f, 1, 4).Row(0).ToArray();
            var userItems = Enumerable.Range(0, 5).Select(_ => rng.NextInt(400)).ToArray();
            int item = userItems[0];
            sampler.Fill(item, candidates, shift, rng);
            negatives.Apply(query, userItems, candidates, shift, state);
            BeamSearch.Trace(tree, scorer, query, 4, trace);
            BeamNegatives.MarkTargets(tree, userItems, stamps, trial + 1);
            for (int level = 1, node = 0; level <= tree.Depth; level++)
            {
                var row = candidates.AsSpan((level - 1) * w, w);
                var mask = shift.AsSpan((level - 1) * w, w);
                node = DotNodeScorer.Ancestor(tree, tree.LeafOf(item), level);
                Assert.Equal(node, row[0]);
                Assert.Equal(0f, mask[0]);
                for (int j = 1; j < w; j++)
                    if (stamps[row[j]] == trial + 1) Assert.Equal(InfoNceLoss.MaskedLogit, mask[j]);
                var reached = trace.Nodes(level).ToArray().Zip(trace.Scores(level).ToArray()).Where(p => stamps[p.First] != trial + 1)
                    .OrderByDescending(p => p.Second).Select(p => p.First).Take(6).ToArray();
                Assert.Equal(reached, row.Slice(1, reached.Length).ToArray());
            }
        }
    }
}
