using VectorRecall.Training;
using VectorRecall.Indexing;
using VectorRecall.Numerics;
using VectorRecall.Tdm;

namespace VectorRecall.Tests.Tdm;

public class LayerwiseSamplerTests
{
    [Fact]
    public void NegativesNeverIncludeThePositiveAndStayOnTheirLevel()
    {
        var tree = TreeBuilder.Build(Tensor.Randn(new Rng(2), 1f, 300, 3), new TreeBuildOptions());
        var sampler = new LayerwiseSampler(tree, [5]);
        int w = sampler.Width, levels = sampler.Levels;
        Assert.Equal(6, w);
        var candidates = new int[levels * w];
        var shift = new float[levels * w];
        var rng = new Rng(3);
        for (int item = 0; item < 300; item++)
        {
            sampler.Fill(item, candidates, shift, rng);
            int node = tree.LeafOf(item);
            for (int level = tree.Depth; level >= 1; level--, node = tree.Parent(node))
            {
                var row = candidates.AsSpan((level - 1) * w, w);
                var mask = shift.AsSpan((level - 1) * w, w);
                Assert.Equal(node, row[0]);
                Assert.Equal(0f, mask[0]);
                int real = Math.Min(5, tree.LevelSize(level) - 1);
                for (int j = 1; j < w; j++)
                {
                    if (j <= real)
                    {
                        Assert.NotEqual(node, row[j]);
                        Assert.InRange(row[j], tree.LevelStart(level), tree.LevelStart(level) + tree.LevelSize(level) - 1);
                        Assert.Equal(0f, mask[j]);
                    }
                    else Assert.Equal(InfoNceLoss.MaskedLogit, mask[j]);
                }
                if (tree.LevelSize(level) - 1 <= 5) Assert.Equal(real, row[1..(1 + real)].ToArray().Distinct().Count());
            }
        }
    }

    [Fact]
    public void WithoutTheLeavesTheRowsStopALevelAbove()
    {
        var tree = TreeBuilder.Build(Tensor.Randn(new Rng(2), 1f, 100, 3), new TreeBuildOptions());
        var sampler = new LayerwiseSampler(tree, [3], leaves: false);
        Assert.Equal(tree.Depth - 1, sampler.Levels);
        var candidates = new int[sampler.Levels * sampler.Width];
        var shift = new float[candidates.Length];
        sampler.Fill(7, candidates, shift, new Rng(1));
        Assert.Equal(tree.Parent(tree.LeafOf(7)), candidates[(sampler.Levels - 1) * sampler.Width]);
        Assert.All(candidates, node => Assert.True(node < tree.LevelStart(tree.Depth)));
        var single = TreeBuilder.Build(Tensor.Randn(new Rng(2), 1f, 2, 3), new TreeBuildOptions());
        Assert.Throws<ArgumentException>(() => new LayerwiseSampler(single, [1], leaves: false));
    }

    [Fact]
    public void PerLevelCountsMustMatchTheDepth()
    {
        var tree = TreeBuilder.Build(Tensor.Randn(new Rng(2), 1f, 64, 3), new TreeBuildOptions());
        Assert.Contains("per level", Assert.Throws<ArgumentException>(() => new LayerwiseSampler(tree, [1, 2, 3])).Message);
        Assert.Equal(1 + 7, new LayerwiseSampler(tree, [1, 1, 2, 3, 5, 7]).Width);
    }
}
