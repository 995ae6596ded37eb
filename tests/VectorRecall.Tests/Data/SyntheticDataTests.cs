using VectorRecall.Data;
using VectorRecall.Indexing;
using VectorRecall.Numerics;

namespace VectorRecall.Tests.Data;

public class SyntheticDataTests
{
    private static readonly SyntheticOptions Small = new() { NumUsers = 200, NumItems = 1000, NumInteractions = 6000, Seed = 3 };

    [Fact]
    public void SameSeedSameData()
    {
        var a = SyntheticGenerator.Generate(Small).Dataset;
        var b = SyntheticGenerator.Generate(Small).Dataset;
        Assert.Equal(a.Train.Items, b.Train.Items);
        Assert.Equal(a.Test.Items, b.Test.Items);
        Assert.Equal(a.Items.Tags, b.Items.Tags);
        Assert.Equal(a.UserFeatures.ToArray(), b.UserFeatures.ToArray());
        var c = SyntheticGenerator.Generate(Small with { Seed = 4 }).Dataset;
        Assert.NotEqual(a.Train.Items, c.Train.Items);
    }

    [Fact]
    public void HasTheRequestedSizesAndStructure()
    {
        var d = SyntheticGenerator.Generate(Small).Dataset;
        Assert.Equal(6000, d.InteractionCount);
        Assert.Equal(200, d.UserCount);
        for (int u = 0; u < d.UserCount; u++)
        {
            Assert.True(d.Validation.CountOf(u) >= 1 && d.Test.CountOf(u) >= 1 && d.Train.CountOf(u) >= 1);
            var all = d.Train.Of(u).ToArray().Concat(d.Validation.Of(u).ToArray()).Concat(d.Test.Of(u).ToArray()).ToArray();
            Assert.Equal(all.Length, all.Distinct().Count());  // one interaction per user and item
        }
        for (int i = 0; i < d.ItemCount; i++) Assert.InRange(d.Items.TagsOf(i).Length, 3, 8);
        // Popularity is skewed: the top 1% of items take far more than 1% of interactions.
        var counts = d.Train.ItemCounts(d.ItemCount).OrderDescending().ToArray();
        Assert.True(counts.Take(10).Sum() > 0.03 * d.Train.Count);
    }

    [Fact]
    public void RejectsImpossibleSizes()
    {
        // The library names the property; the CLI names the flag that sets it.
        var e = Assert.Throws<SettingException>(() => SyntheticGenerator.Generate(Small with { NumInteractions = 100 }));
        Assert.Equal("NumInteractions", e.Property);
        Assert.StartsWith("--num-interactions (100) must be at least 3 per user", VectorRecall.Cli.Commands.CliErrors.Describe(e));
        Assert.Equal("NumUsers", Assert.Throws<SettingException>(() => SyntheticGenerator.Generate(Small with { NumUsers = 1 })).Property);
        Assert.Equal("--lr", VectorRecall.Cli.Commands.CliErrors.FlagOf("LearningRate"));
        Assert.Equal("--e-dim", VectorRecall.Cli.Commands.CliErrors.FlagOf("EDim"));
        Assert.Equal("--num-emb-list", VectorRecall.Cli.Commands.CliErrors.FlagOf("NumEmbList"));
    }
}
