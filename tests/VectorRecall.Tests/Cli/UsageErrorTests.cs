namespace VectorRecall.Tests.Cli;

/// <summary>A command line that does not parse gets one line per problem and where the help is, exit code 2.</summary>
[Collection(ConsoleCollection.Name)]
public class UsageErrorTests
{
    [Theory]
    [InlineData(new[] { "index", "build", "--data", "x.npy", "--m", "abc", "--output", "y.vrix" }, "'--m'", "vrecall index build --help")]
    [InlineData(new[] { "demo", "--no-such-flag" }, "--no-such-flag", "vrecall demo --help")]
    [InlineData(new[] { "--no-such-flag" }, "--no-such-flag", "vrecall --help")]
    public void AParseErrorIsOneLineAndWhereTheHelpIsNotTheWholeHelp(string[] args, string named, string see)
    {
        var (code, error) = CliRun.Capture(args);
        Assert.Equal(2, code);
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(2, lines.Length);
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(named, lines[0]);
        Assert.Equal($"see: {see}", lines[1]);
    }
}
