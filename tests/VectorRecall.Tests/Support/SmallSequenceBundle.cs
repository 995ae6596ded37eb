namespace VectorRecall.Tests;

/// <summary>The CLI tests' shared start: 80 users' sequences over 60 items and a small two-tower bundle trained on them.</summary>
internal static class SmallSequenceBundle
{
    /// <summary>Writes <c>seq.txt</c> into <paramref name="dir"/>, trains the bundle into <c>b</c> (its run folder in <c>run</c>); returns the data set arguments.</summary>
    public static string[] Train(TempDir dir)
    {
        var lines = Enumerable.Range(0, 80).Select(u => $"{u + 1} " + string.Join(" ", Enumerable.Range(0, 9).Select(j => 1 + (u * 3 + j) % 60)));
        File.WriteAllLines(dir.File("seq.txt"), lines);
        string[] data = ["--dataset", "sequences", "--data", dir.File("seq.txt")];
        Assert.Equal(0, VectorRecall.Cli.Program.Main(["train", .. data, "--user-encoder", "bag", "--epochs", "1", "--batch-size", "64", "--num-negatives", "2", "--hidden", "32", "--embedding-dim", "16",
            "--bundle", dir.File("b"), "--run-dir", dir.File("run")]));
        return data;
    }
}
