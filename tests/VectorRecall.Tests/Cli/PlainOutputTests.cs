using VectorRecall.IO;

namespace VectorRecall.Tests.Cli;

/// <summary>Output to a file or pipe (as under the test runner) is plain: no escape codes and no wrapping.</summary>
[Collection(ConsoleCollection.Name)]
public class PlainOutputTests
{
    [Fact]
    public void RedirectedOutputCarriesNoEscapeCodesAndLongLinesStayWhole()
    {
        Assert.True(Console.IsOutputRedirected, "the test runner redirects standard output");
        using var dir = new TempDir();
        const int n = 300, dim = 8;
        Npy.Write(dir.File("base.npy"), VectorSets.Clustered(n, dim, 4, 3), [n, dim]);
        // A long path makes the closing line longer than any terminal width the output used to be wrapped at.
        string index = dir.File(new string('x', 150) + ".vrix");
        var (code, text) = CliRun.CaptureOutput(["index", "build", "--data", dir.File("base.npy"), "--storage", "sq8", "--output", index]);
        Assert.Equal(0, code);
        Assert.DoesNotContain('\u001b', text);
        Assert.Contains($"wrote {index} (", text);
    }
}
