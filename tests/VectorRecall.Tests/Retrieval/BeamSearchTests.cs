using VectorRecall.Indexing;
using VectorRecall.Numerics;
using VectorRecall.Tdm;
using VectorRecall.Retrieval;

namespace VectorRecall.Tests.Retrieval;

public class BeamSearchTests
{
    /// <summary>Scores a node by the best item score below it: the max-heap property that makes beam search exact.</summary>
    private sealed class OracleScorer(ItemTree tree, float[] itemScores) : INodeScorer
    {
        private readonly float[] _best = Best(tree, itemScores);

        private static float[] Best(ItemTree tree, float[] itemScores)
        {
            var best = new float[tree.NodeCount];
            Array.Fill(best, float.NegativeInfinity);
            for (int item = 0; item < tree.ItemCount; item++)
                for (int node = tree.LeafOf(item); node >= 0; node = tree.Parent(node)) best[node] = Math.Max(best[node], itemScores[item]);
            return best;
        }

        public void Score(ReadOnlySpan<float> query, ReadOnlySpan<int> nodes, Span<float> scores)
        {
            for (int i = 0; i < nodes.Length; i++) scores[i] = _best[nodes[i]];
        }
    }

    [Theory]
    [InlineData(2, 10, 10)]
    [InlineData(2, 20, 64)]
    [InlineData(3, 5, 40)]
    public void WithAnOracleScorerBeamSearchIsExact(int branch, int k, int beam)
    {
        var rng = new Rng(11);
        var tree = TreeBuilder.Build(Tensor.Randn(rng, 1f, 700, 4), new TreeBuildOptions { Branch = branch });
        for (int trial = 0; trial < 5; trial++)
        {
            var itemScores = new float[700];
            rng.FillNormal(itemScores, 0, 1);
            var exclude = Enumerable.Range(0, 30).Select(_ => rng.NextInt(700)).Distinct().ToArray();
            var ids = new long[k];
            var scores = new float[k];
            var filter = new ExcludedIds();
            foreach (int e in exclude) filter.Add(e);
            int n = BeamSearch.Search(tree, new OracleScorer(tree, itemScores), [0f], k, beam, ids, scores, filter);
            var masked = (float[])itemScores.Clone();
            foreach (int e in exclude) masked[e] = float.NaN;
            var expected = TopK.SelectReference(masked, k);
            Assert.Equal(k, n);
            Assert.Equal(expected.Select(e => e.Id), ids);
            Assert.Equal(expected.Select(e => e.Score), scores);
        }
    }

    [Fact]
    public void ABeamNarrowerThanKIsRefused()
    {
        var tree = TreeBuilder.Build(Tensor.Randn(new Rng(1), 1f, 50, 3), new TreeBuildOptions());
        var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            BeamSearch.Search(tree, new OracleScorer(tree, new float[50]), [0f], 10, 5, new long[10], new float[10]));
        Assert.Contains("beam", e.Message);
    }

    [Fact]
    public void ABeamWiderThanTheTreeScoresEveryLeaf()
    {
        var tree = TreeBuilder.Build(Tensor.Randn(new Rng(1), 1f, 20, 3), new TreeBuildOptions());
        var itemScores = Enumerable.Range(0, 20).Select(i => (float)i).ToArray();
        var ids = new long[5];
        Assert.Equal(5, BeamSearch.Search(tree, new OracleScorer(tree, itemScores), [0f], 5, 100, ids, new float[5]));
        Assert.Equal([19L, 18, 17, 16, 15], ids);
    }
}
