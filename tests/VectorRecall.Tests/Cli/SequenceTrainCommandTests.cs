using System.Text.Json;

namespace VectorRecall.Tests.Cli;

[Collection(ConsoleCollection.Name)]
public class SequenceTrainCommandTests
{
    private static int Vrecall(params string[] args) => VectorRecall.Cli.Program.Main(args);

    [Fact]
    public void TrainWithTheSequenceEncoderWritesABundleThatEvalRanks()
    {
        using var dir = new TempDir();
        var lines = Enumerable.Range(0, 120).Select(u => $"{u + 1} " + string.Join(" ", Enumerable.Range(0, 10).Select(j => 1 + (u * 3 + j) % 40)));
        File.WriteAllLines(dir.File("seq.txt"), lines);
        string[] data = ["--dataset", "sequences", "--data", dir.File("seq.txt")];
        Assert.Equal(0, Vrecall([.. "train".Split(' '), .. data, "--user-encoder", "sequence", "--epochs", "3", "--embedding-dim", "16", "--max-length", "12",
            "--num-negatives", "0", "--bundle", dir.File("b"), "--run-dir", dir.File("run")]));
        using (var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.File("b"), "manifest.json"))))
            Assert.Equal("sequence", manifest.RootElement.GetProperty("kind").GetString());
        Assert.Equal(0, Vrecall([.. "eval".Split(' '), .. data, "--bundle", dir.File("b"), "--json", dir.File("r.json")]));
        using var doc = JsonDocument.Parse(File.ReadAllText(dir.File("r.json")));
        var retrievers = doc.RootElement.GetProperty("retrievers");
        Assert.Equal(retrievers.GetProperty("flat").GetProperty("recall@20").GetDouble(), retrievers.GetProperty("hnsw").GetProperty("recall@20").GetDouble(), 2);

        // Bad settings: an unknown encoder, heads that do not divide the width.
        Assert.Equal(1, Vrecall([.. "train".Split(' '), .. data, "--user-encoder", "rnn", "--bundle", dir.File("x")]));
        Assert.Equal(1, Vrecall([.. "train".Split(' '), .. data, "--user-encoder", "sequence", "--heads", "3", "--embedding-dim", "16", "--bundle", dir.File("x")]));
        Assert.False(Directory.Exists(dir.File("x")));
    }
}
