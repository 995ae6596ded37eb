using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;

namespace VectorRecall.Tests.Cli;

[Collection(ConsoleCollection.Name)]
public class ServeStartTests
{
    [Fact]
    public void ServeOnABadManifestExits1WithOneLineNamingTheFileAndField()
    {
        var model = TrainedSmallModel.Shared;
        using var dir = new TempDir();
        string bundle = dir.File("bundle");
        ServerFixture.CopyBundle(model.BundlePath, bundle);
        File.WriteAllText(Path.Combine(bundle, "manifest.json"), File.ReadAllText(Path.Combine(bundle, "manifest.json")).Replace("\"created_utc\": \"", "\"created_utc\": 1, \"x\": \"", StringComparison.Ordinal));
        var (code, error) = CliRun.Capture(["serve", "--bundle", bundle, "--urls", "http://127.0.0.1:0"]);
        Assert.Equal(1, code);
        Assert.Single(error.Trim().Split('\n'));
        Assert.Contains("manifest.json", error);
        Assert.Contains("created_utc", error);
    }
}
