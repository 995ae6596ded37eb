using System.CommandLine;
using VectorRecall.Cli.Commands;
using VectorRecall.IO;

namespace VectorRecall.Tests.Cli;

public class ConfigFileTests
{
    /// <summary>A root with a train command, as the CLI builds it, and the options that command reads.</summary>
    private static (RootCommand Root, PipelineOptionSet Set) Train()
    {
        var set = new PipelineOptionSet();
        var train = new Command("train");
        set.AddTo(train, benchmark: false);
        var root = new RootCommand { train };
        root.Add(ConfigFile.Option);
        return (root, set);
    }

    private static PipelineOptions Read(params string[] args)
    {
        var (root, set) = Train();
        var parsed = root.Parse(ConfigFile.Expand(args, root));
        Assert.Empty(parsed.Errors);
        return set.Read(parsed);
    }

    [Fact]
    public void YamlAndJsonSetAnyOptionAndTheCommandLineWins()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("run.yaml"), "# a run\nepochs: 7\nembedding_dim: 24\nhidden: [32, 16]\nshared-negatives: true\nbundle: b7\nlr: 0.005\n");
        var o = Read("train", "--config", dir.File("run.yaml"), "--epochs", "3");
        Assert.Equal(3, o.Trainer.Epochs);            // the flag wins
        Assert.Equal(24, o.EmbeddingDim);              // snake case
        Assert.Equal([32, 16], o.Hidden);              // a list
        Assert.True(o.Loss.SharedNegatives);           // a switch
        Assert.Equal("b7", o.Bundle);
        Assert.Equal(0.005, o.Trainer.LearningRate);

        File.WriteAllText(dir.File("run.json"), """{"epochs": 4, "num_negatives": 20, "hidden": [0], "data-dir": "x.csv"}""");   // an old name still works
        var j = Read("train", "--config", dir.File("run.json"));
        Assert.Equal(4, j.Trainer.Epochs);
        Assert.Equal(20, j.Loss.NumNegatives);
        Assert.Equal("csv", j.Dataset);                // inferred from the configured data file, as from the flag
    }

    [Theory]
    [InlineData("run.yaml", "epochz: 2\n", "'epochz' is not an option of vrecall train")]
    [InlineData("run.yaml", "epochs: [1, 2\n", "line")]
    [InlineData("run.yaml", "epochs:\n  nested: 1\n", "must be a value or a list")]
    [InlineData("run.yaml", "- 1\n- 2\n", "expected a mapping")]
    [InlineData("run.json", "[1]", "expected a JSON object")]
    [InlineData("run.json", """{"config": "other.yaml"}""", "cannot name another")]
    public void BadFilesAreRefusedNamingTheFile(string name, string text, string expected)
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File(name), text);
        var (root, _) = Train();
        var e = Assert.Throws<FileFormatException>(() => ConfigFile.Expand(["train", "--config", dir.File(name)], root));
        Assert.Contains(dir.File(name), e.Message);
        Assert.Contains(expected, e.Message);
        Assert.Throws<FileNotFoundException>(() => ConfigFile.Expand(["train", "--config", dir.File("absent.yaml")], root));
        Assert.Throws<ArgumentException>(() => ConfigFile.Expand(["--config", dir.File(name)], root));
    }
}
