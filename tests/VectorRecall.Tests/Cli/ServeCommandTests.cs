using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace VectorRecall.Tests.Cli;

[Collection(ConsoleCollection.Name)]
public class ServeCommandTests
{
    [Fact]
    public void ServeRefusesAMissingBundleAndBadLimitsWithExitCode1()
    {
        using var dir = new TempDir();
        var (code, error) = CliRun.Capture(["serve", "--bundle", dir.File("nothing-here"), "--urls", "http://127.0.0.1:0"]);
        Assert.Equal(1, code);
        Assert.Contains("nothing-here", error);
        (code, error) = CliRun.Capture(["serve", "--bundle", dir.Path, "--max-top-k", "0"]);
        Assert.Equal(1, code);
        Assert.Contains("--max-top-k", error);
        (code, error) = CliRun.Capture(["serve", "--bundle", dir.Path, "--search-patience", "-1"]);
        Assert.Equal(1, code);
        Assert.Contains("--search-patience", error);
    }
}
