using VectorRecall.Training;

namespace VectorRecall.Tests.Cli;

public class DatasetDefaultsTests
{
    private static VectorRecall.Cli.Commands.PipelineOptions Read(params string[] args) => ReadFor(null, args);

    private static VectorRecall.Cli.Commands.PipelineOptions ReadFor(bool? chronological, params string[] args) => ReadWith(chronological is { } c ? new(c, 20_000) : null, args);

    private static VectorRecall.Cli.Commands.PipelineOptions ReadWith(VectorRecall.Cli.Commands.DataFacts? data, params string[] args)
    {
        var set = new VectorRecall.Cli.Commands.PipelineOptionSet();
        var command = new System.CommandLine.RootCommand();
        set.AddTo(command, benchmark: true);
        return set.Read(command.Parse(args), data);
    }

    [Fact]
    public void TimeOrderedDataGetsTheSequenceEncoderUnlessAFlagSaysOtherwise()
    {
        var unresolved = Read("--dataset", "beauty", "--data", "x");
        Assert.True(unresolved.UserEncoderUnresolved);

        var ordered = ReadFor(true, "--dataset", "beauty", "--data", "x");
        Assert.True(ordered.Sequence);
        Assert.Equal(0.5f, ordered.Dropout);
        Assert.Equal(128, ordered.Trainer.BatchSize);
        Assert.Equal(VectorRecall.Optim.ScheduleKind.Constant, ordered.Trainer.Schedule);
        Assert.Equal(1024, ordered.Loss.NumNegatives);
        Assert.True(ordered.ItemAttributes);
        Assert.False(ReadFor(true, "--dataset", "beauty", "--data", "x", "--item-attributes", "false").ItemAttributes);
        Assert.True(ordered.SequenceConfig(new VectorRecall.Data.RecDataset(VectorRecall.Data.ItemCatalog.IdOnly(3), new VectorRecall.Numerics.Tensor(1, 0),
            VectorRecall.Data.UserItemLists.FromLists([[0]]), VectorRecall.Data.UserItemLists.FromLists([[1]]), VectorRecall.Data.UserItemLists.FromLists([[2]]))).PreNorm);
        var post = ReadFor(true, "--dataset", "beauty", "--data", "x", "--norm", "post");
        Assert.Equal("post", post.Norm);
        Assert.Throws<ArgumentException>(() => (ordered with { Norm = "mid" }).Validate());

        var unordered = ReadFor(false, "--dataset", "gowalla", "--data", "x");
        Assert.False(unordered.Sequence);
        Assert.Equal("bag", unordered.UserEncoder);
        Assert.Equal(1024, unordered.Trainer.BatchSize);

        Assert.False(ReadFor(true, "--dataset", "beauty", "--data", "x", "--user-encoder", "bag").Sequence);
        Assert.False(ReadFor(true).Sequence);  // synthetic data keeps the bag: its users have features the sequence encoder does not read
        Assert.False(Read().UserEncoderUnresolved);
    }

    [Fact]
    public void SmallCataloguesTrainTheSequenceEncoderWithTheFullSoftmax()
    {
        string[] beauty = ["--dataset", "beauty", "--data", "x"];
        Assert.Equal(0, ReadWith(new(true, 12_101), beauty).Loss.NumNegatives);
        Assert.Equal(VectorRecall.Optim.ScheduleKind.Constant, ReadWith(new(true, 12_101), beauty).Trainer.Schedule);
        Assert.Equal(1024, ReadWith(new(true, 100_000), beauty).Loss.NumNegatives);
        Assert.Equal(256, ReadWith(new(true, 12_101), [.. beauty, "--num-negatives", "256"]).Loss.NumNegatives);
        Assert.Equal(10, ReadWith(new(false, 12_101), ["--dataset", "gowalla", "--data", "x"]).Loss.NumNegatives);  // the bag keeps its own
    }

    [Fact]
    public void RealDataStartsFromItsOwnDefaultsAndFlagsWin()
    {
        var synthetic = Read();
        Assert.Equal([256, 128], synthetic.Hidden);
        Assert.Equal(ModelSelection.Loss, synthetic.Trainer.SelectBy);
        Assert.Equal(1e-3, synthetic.Trainer.LearningRate);

        var real = Read("--dataset", "gowalla", "--data", "x");
        Assert.Empty(real.Hidden);
        Assert.Equal(64, real.EmbeddingDim);
        Assert.Equal(1e-2, real.Trainer.LearningRate);
        Assert.Equal(ModelSelection.Recall, real.Trainer.SelectBy);

        var overridden = Read("--dataset", "beauty", "--data", "x", "--lr", "0.002", "--hidden", "32", "--select-by", "loss", "--weight_decay", "0.1");
        Assert.Equal(0.002, overridden.Trainer.LearningRate);
        Assert.Equal([32], overridden.Hidden);
        Assert.Equal(ModelSelection.Loss, overridden.Trainer.SelectBy);
        Assert.Equal(0.1, overridden.Trainer.WeightDecay);
        Assert.Equal(real.Loss.Temperature, overridden.Loss.Temperature);  // untouched flags keep the data set's default
        Assert.Throws<ArgumentException>(() => Read("--select-by", "auc"));
    }
}
