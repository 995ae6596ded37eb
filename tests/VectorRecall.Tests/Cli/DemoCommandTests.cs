
namespace VectorRecall.Tests.Cli;

[Collection(ConsoleCollection.Name)]
public class DemoCommandTests
{
    [Fact]
    public void SmallDemoRunsEndToEnd()
    {
        using var dir = new TempDir();
        var (code, output) = CliRun.CaptureOutput([
            // Sizes that prove the wiring (data, training, checkpoints, index, bundle, report); the defaults' scale is the benchmark's job.
            "demo", "--num-users", "600", "--num-items", "3000", "--num-interactions", "20000", "--epochs", "2", "--skip-benchmark",
            "--embedding-dim", "32", "--hidden", "64", "--storage", "sq8",
            "--bundle", dir.File("bundle"), "--run-dir", dir.File("run"), "--save-limit", "1", "--eval-users", "300",
        ]);
        Assert.Equal(0, code);
        // The quality report says when it ranked a sample of the test users, so its figures are not read as eval's over all.
        Assert.Contains("300 of 600 test users (a random sample, --eval-users; `vrecall eval` scores all)", output);
        Assert.True(File.Exists(Path.Combine(dir.File("bundle"), "manifest.json")));
        // The run folder: checkpoints under it, the latest --save-limit of them kept besides the best.
        Assert.Equal(["best_model.safetensors", "checkpoint_epoch_2.safetensors"], Directory.GetFiles(Path.Combine(dir.File("run"), "checkpoints")).Select(Path.GetFileName).Order());
        Assert.True(File.Exists(Path.Combine(dir.File("run"), "report.html")));
        using var index = VectorRecall.Indexing.HnswIndex.Load(Path.Combine(dir.File("bundle"), "items.vrix"));
        Assert.Equal(VectorRecall.Indexing.VectorStorage.SQ8, index.Options.Storage);
    }

    [Fact]
    public void SnakeCaseAliasesAndBadFlagsAreHandled()
    {
        using var dir = new TempDir();
        Assert.Equal(1, VectorRecall.Cli.Program.Main(["demo", "--num_users", "1", "--bundle", dir.File("b"), "--checkpoint_dir", dir.File("c")]));
        Assert.Equal(1, VectorRecall.Cli.Program.Main(["demo", "--index", "annoy", "--bundle", dir.File("b")]));
        Assert.Equal(1, VectorRecall.Cli.Program.Main(["demo", "--storage", "sq2", "--bundle", dir.File("b")]));
        Assert.Equal(1, VectorRecall.Cli.Program.Main(["demo", "--refine", "0", "--bundle", dir.File("b")]));
        Assert.False(Directory.Exists(dir.File("b")), "a refused run writes nothing");
    }
}
