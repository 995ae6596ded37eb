using VectorRecall.Cli.Commands;

namespace VectorRecall.Tests.Cli;

[Collection(ConsoleCollection.Name)]
public class DeprecatedFlagsTests
{
    [Fact]
    public void OldNamesAreRewrittenWithOneNoteEachAndEverythingElseIsKept()
    {
        var notes = new StringWriter();
        string[] args = ["index", "build", "--input", "v.npy", "--out=i.vrix", "--m", "8", "--k", "5", "--out", "j.vrix", "--output-dir", "x", "--data_dir", "d", "notes--out"];
        var rewritten = DeprecatedFlags.Rewrite(args, notes);
        Assert.Equal(["index", "build", "--data", "v.npy", "--output=i.vrix", "--m", "8", "--top-k", "5", "--output", "j.vrix", "--output-dir", "x", "--data_dir", "d", "notes--out"], rewritten);
        var lines = notes.ToString().Trim().Split('\n');
        Assert.Equal(3, lines.Length);   // --input, --out (once), --k
        Assert.Contains("--out is now --output", lines[1]);
    }

    [Fact]
    public void AnOldNameStillWorksFromTheCommandLine()
    {
        using var dir = new TempDir();
        var (code, error) = CliRun.Capture(["index", "build", "--input", dir.File("absent.npy"), "--out", dir.File("i.vrix")]);
        Assert.Equal(1, code);   // the file is absent: the flags themselves parsed
        Assert.Contains("--input is now --data", error);
        Assert.Contains("absent.npy", error);
    }
}
