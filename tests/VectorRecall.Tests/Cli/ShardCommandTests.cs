using VectorRecall.Serving;

namespace VectorRecall.Tests.Cli;

/// <summary><c>vrecall shard</c> writes a shard set from a bundle, and refuses what it cannot split with one line.</summary>
[Collection(ConsoleCollection.Name)]
public class ShardCommandTests
{
    [Fact]
    public void ABundleIsSplitAndBadArgumentsGetOneLine()
    {
        using var dir = new TempDir();
        string bundle = TrainedSmallModel.Shared.BundlePath;
        var (code, text) = CliRun.CaptureOutput(["shard", "--bundle", bundle, "--shards", "3", "--output", dir.File("set")]);
        Assert.Equal(0, code);
        Assert.Contains("in 3 shards written to", text);
        Assert.Equal(3, ShardSet.Open(dir.File("set")).Shards);

        foreach (var args in new[]
        {
            new[] { "shard", "--bundle", bundle, "--shards", "0", "--output", dir.File("a") },
            ["shard", "--bundle", dir.File("missing"), "--shards", "2", "--output", dir.File("b")],
        })
        {
            var (failed, error) = CliRun.Capture(args);
            Assert.Equal(1, failed);
            Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }
        Assert.False(Directory.Exists(dir.File("a")) || Directory.Exists(dir.File("b")));
    }

    [Fact]
    public void ASetsLogsAreCompactedIntoANewSet()
    {
        using var dir = new TempDir();
        var set = ShardSet.Split(TrainedSmallModel.Shared.BundlePath, 2, dir.File("set"));
        string key = Enumerable.Range(0, 100).Select(i => $"live-{i}").First(k => ShardSet.OwnerOf(k, 2) == 1);
        using (var log = ShardUpdateLog.Open(set, 1)) log.Write([new ItemChange(key, new float[set.Dimension])]);
        var (code, text) = CliRun.CaptureOutput(["shard", "compact", "--bundle-store", dir.File("set"), "--output", dir.File("compacted")]);
        Assert.Equal(0, code);
        Assert.Contains("written to", text);
        using var shard = LiveShard.Load(ShardSet.Open(dir.File("compacted")), 1);
        Assert.Equal(key, shard.NameOf(ShardSet.LiveRow(set, 1, 0)));

        var (failed, error) = CliRun.Capture(["shard", "compact", "--bundle-store", dir.File("set"), "--output", dir.File("set")]);
        Assert.Equal(1, failed);
        Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(1, CliRun.Capture(["shard", "compact", "--bundle-store", dir.File("nothing"), "--output", dir.File("c")]).Item1);
    }
}
