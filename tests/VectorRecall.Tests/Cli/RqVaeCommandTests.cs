using System.Text.Json;
using VectorRecall.IO;
using VectorRecall.Numerics;
using VectorRecall.SemanticIds;

namespace VectorRecall.Tests.Cli;

[Collection(ConsoleCollection.Name)]
public class RqVaeCommandTests
{
    private static int Vrecall(params string[] args) => VectorRecall.Cli.Program.Main(args);

    [Fact]
    public void TrainGenerateEvaluateAndRetrieveThroughTheCli()
    {
        using var dir = new TempDir();
        var data = SmallSequenceBundle.Train(dir);
        string vectors = Path.Combine(dir.File("b"), "item_vectors.npy");
        string[] small = ["--layers", "32", "16", "--e-dim", "8", "--num-emb-list", "8", "8", "--batch-size", "32", "--kmeans-iters", "10"];
        Assert.Equal(0, Vrecall(["rqvae", "train", "--data", vectors, "--checkpoint-dir", dir.File("rq"), "--epochs", "4", "--eval-step", "2",
            "--warmup-epochs", "1", "--bn", "false", "--lr-scheduler-type", "cosine", .. small]));
        string run = Directory.GetDirectories(dir.File("rq")).Single();
        string best = Path.Combine(run, "best_model.safetensors");
        Assert.True(File.Exists(Path.Combine(run, "train.log")));
        Assert.Matches(@"^\d{8}-\d{6}$", Path.GetFileName(run));   // run folders sort by start time
        string options = File.ReadLines(Path.Combine(run, "train.log")).Skip(1).First();
        Assert.StartsWith("# options {", options);
        Assert.NotNull(System.Text.Json.Nodes.JsonNode.Parse(options["# options ".Length..])!["trainer"]);
        Assert.True(File.Exists(Path.Combine(run, "report.html")));
        Assert.Equal(0, Vrecall("rqvae", "generate", "--ckpt_path", best, "--output-dir", dir.File("ids"), "--output_file", "x.index.json"));
        var (ids, codes, levels) = SemanticIdFile.Read(Path.Combine(dir.File("ids"), "x.index.json"));
        Assert.Equal(60, ids.Count);
        var bundleIds = VectorRecall.Serving.ServingBundle.LoadItemIds(dir.File("b"));   // vectors from a bundle: keyed by its item ids
        Assert.Equal(Enumerable.Range(0, 60).Select(i => bundleIds[i]), Enumerable.Range(0, 60).Select(i => ids[i]));
        Assert.Equal(60, new SemanticCodes(codes, Enumerable.Repeat(256, levels).ToArray()).DistinctCount);
        Assert.Equal(0, Vrecall("rqvae", "evaluate", "--ckpt", best));
        Assert.Equal(0, Vrecall("rqvae", "evaluate", "--ids", Path.Combine(dir.File("ids"), "x.index.json")));
        Assert.Equal(0, Vrecall("bundle", "--rqvae-model", best, "--from", dir.File("b"), "--beam", "50", "--bundle", dir.File("sem")));
        Assert.Equal(0, Vrecall(["eval", .. data, "--bundle", dir.File("b"), dir.File("sem"), "--json", dir.File("r.json")]));
        using var doc = JsonDocument.Parse(File.ReadAllText(dir.File("r.json")));
        foreach (var name in new[] { "b:flat", "b:hnsw", "sem:flat", "sem:semantic" })
            Assert.True(doc.RootElement.GetProperty("retrievers").GetProperty(name).TryGetProperty("hr@50", out _), name);
        // Semantic ids need a two-tower bundle to stand on, and one source.
        Assert.Equal(1, Vrecall("bundle", "--rqvae-model", best, "--from", dir.File("sem"), "--bundle", dir.File("sem2")));
        Assert.Equal(1, Vrecall("bundle", "--rqvae-model", best, "--bundle", dir.File("sem2")));

        // Bad input: data of another width for the checkpoint, a data set smaller than a codebook, unknown flags' values.
        Npy.Write(dir.File("wide.npy"), Tensor.Randn(new Rng(1), 1f, 60, 20));
        Assert.Equal(1, Vrecall("rqvae", "generate", "--ckpt", best, "--data", dir.File("wide.npy"), "--output-file", dir.File("y.json")));
        Assert.False(File.Exists(dir.File("y.json")));
        Assert.Equal(1, Vrecall(["rqvae", "train", "--data", vectors, "--checkpoint-dir", dir.File("rq2"), "--num-emb-list", "256", "--layers", "8", "--e-dim", "4"]));
        Assert.Equal(1, Vrecall(["rqvae", "train", "--data", vectors, "--checkpoint-dir", dir.File("rq2"), "--num-emb-list", "0", "8"]));
        Assert.Equal(1, Vrecall(["rqvae", "train", "--data", vectors, "--checkpoint-dir", dir.File("rq2"), "--loss-type", "huber"]));
        Assert.Equal(1, Vrecall(["eval", .. data, "--bundle", dir.File("b"), "--retriever", "semantic"]));
    }
}
