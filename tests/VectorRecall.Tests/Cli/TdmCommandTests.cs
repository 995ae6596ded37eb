using VectorRecall.IO;
using VectorRecall.Numerics;
using VectorRecall.Tdm;

namespace VectorRecall.Tests.Cli;

[Collection(ConsoleCollection.Name)]
public class TdmCommandTests
{
    private static int Vrecall(params string[] args) => VectorRecall.Cli.Program.Main(args);

    [Fact]
    public void TheFiveStepWorkflowRunsAndEvaluatesBothTrees()
    {
        using var dir = new TempDir();
        var data = SmallSequenceBundle.Train(dir);
        // 1. tree from the two-tower's item vectors; 2. train; 3. leaves out; 4. second tree; 5. train again.
        Assert.Equal(0, Vrecall("tdm", "build-tree", "--mode", "by_kmeans", "--data", Path.Combine(dir.File("b"), "item_vectors.npy"), "--output", dir.File("tree.bin"), "--threads", "2"));
        string[] train = ["tdm", "train", .. data, "--epochs", "1", "--batch-size", "64", "--beam", "20"];
        Assert.Equal(0, Vrecall([.. train, "--user-init", dir.File("b"), "--tree", dir.File("tree.bin"), "--checkpoint-dir", dir.File("t1")]));
        Assert.Equal(0, Vrecall(["tdm", "get-leaf", "--model", Path.Combine(dir.File("t1"), "best_model.safetensors"), "--output", dir.File("leaf_emb.npy"), .. data]));
        Assert.Equal([60, 16], Npy.Read(dir.File("leaf_emb.npy")).Shape);
        // The training run is recorded beside its checkpoints, as train's runs are.
        foreach (var record in new[] { "config.json", "metrics.jsonl", "report.html" }) Assert.True(File.Exists(Path.Combine(dir.File("t1"), record)), record);
        Assert.Contains("\"event\":\"epoch\"", File.ReadAllText(Path.Combine(dir.File("t1"), "metrics.jsonl")));
        // Given the data it was trained on, each row's item is named by its own id, in the bundle's order.
        var rowIds = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(dir.File("leaf_emb.ids.json")))!.AsArray().Select(n => n!.ToJsonString()).ToArray();
        var bundleIds = VectorRecall.Serving.ServingBundle.LoadItemIds(dir.File("b"));
        Assert.Equal(Enumerable.Range(0, 60).Select(i => bundleIds[i]), rowIds);
        Assert.Equal(0, Vrecall("tdm", "build-tree", "--data", dir.File("leaf_emb.npy"), "--output", dir.File("tree_2.bin"), "--tree_emb_path", dir.File("tree_emb_2.npy")));
        Assert.Equal(ItemTree.Load(dir.File("tree_2.bin")).NodeCount, Npy.Read(dir.File("tree_emb_2.npy")).Shape[0]);
        // The second model starts from the first one's user tower, which learned alongside the leaves.
        Assert.Equal(0, Vrecall([.. train, "--user-init", Path.Combine(dir.File("t1"), "best_model.safetensors"), "--tree", dir.File("tree_2.bin"),
            "--scorer", "mlp", "--mlp", "16", "8", "--checkpoint-dir", dir.File("t2"), "--bundle", dir.File("tb2")]));
        Assert.Equal(0, Vrecall(["bundle", "--tdm-model", Path.Combine(dir.File("t1"), "best_model.safetensors"), .. data, "--beam", "50", "--bundle", dir.File("tb1")]));
        Assert.Equal(0, Vrecall(["eval", .. data, "--bundle", dir.File("b"), dir.File("tb1"), dir.File("tb2"), "--beam", "50", "--json", dir.File("r.json")]));
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(dir.File("r.json")));
        var retrievers = doc.RootElement.GetProperty("retrievers");
        foreach (var name in new[] { "b:flat", "b:hnsw", "tb1:tdm", "tb2:tdm" })
            Assert.True(retrievers.GetProperty(name).TryGetProperty("hr@50", out _), name);

        // A beam narrower than K is widened to K (as HNSW's ef); bad input: a negative beam, exact search on a TDM bundle,
        // a corrupt tree, a tree for other items, embeddings of the wrong shape.
        Assert.Equal(0, Vrecall(["eval", .. data, "--bundle", dir.File("tb1"), "--beam", "10"]));
        Assert.Equal(1, Vrecall(["eval", .. data, "--bundle", dir.File("tb1"), "--beam", "-1"]));
        Assert.Equal(1, Vrecall(["eval", .. data, "--bundle", dir.File("tb1"), "--retriever", "flat"]));
        var bytes = File.ReadAllBytes(dir.File("tree.bin"));
        bytes[^9] ^= 0x10;
        File.WriteAllBytes(dir.File("bad.bin"), bytes);
        Assert.Equal(1, Vrecall([.. train, "--tree", dir.File("bad.bin"), "--checkpoint-dir", dir.File("t3")]));
        Npy.Write(dir.File("few.npy"), Tensor.Randn(new Rng(1), 1f, 40, 16));
        Assert.Equal(0, Vrecall("tdm", "build-tree", "--data", dir.File("few.npy"), "--output", dir.File("few.bin")));
        Assert.Equal(1, Vrecall([.. train, "--tree", dir.File("few.bin"), "--checkpoint-dir", dir.File("t4")]));
        Npy.Write(dir.File("flat.npy"), new float[60], [60]);
        Assert.Equal(1, Vrecall("tdm", "build-tree", "--data", dir.File("flat.npy"), "--output", dir.File("x.bin")));
        Assert.Equal(1, Vrecall("tdm", "build-tree", "--data", dir.File("few.npy"), "--output", dir.File("x.bin"), "--mode", "category"));
        Assert.False(File.Exists(dir.File("x.bin")));
    }

    [Fact]
    public async Task FitRunsTheWorkflowAndWritesABundleThatServes()
    {
        using var dir = new TempDir();
        var data = SmallSequenceBundle.Train(dir);
        Assert.Equal(0, Vrecall(["tdm", "fit", .. data, "--user-init", dir.File("b"), "--bundle", dir.File("f"), "--epochs", "1", "--batch-size", "64", "--beam", "20",
            "--level-gap", "3", "--scorer", "mlp", "--mlp", "16", "8", "--checkpoint-dir", dir.File("fc")]));
        foreach (var stage in new[] { "tree_1", "tree_2", "mlp", "leaf_mlp" })
            Assert.True(File.Exists(Path.Combine(dir.File("fc"), stage, "best_model.safetensors")), stage);
        using (var service = VectorRecall.Serving.RecallService.FromBundle(dir.File("f")))
        {
            var result = service.Recall(3, [], 10, excludeSeen: true);
            Assert.Equal(10, result.ItemIds.Length);
            Assert.Equal(10, result.ItemIds.Distinct().Count());
        }
        Assert.Equal(0, Vrecall(["eval", .. data, "--bundle", dir.File("f")]));
        await using (var server = await new ServerFixture().StartAsync(o => o with { AdminToken = null }, source: dir.File("f")))
        {
            var (status, body) = await server.Call("/v1/recall", """{"user_id": 3, "top_k": 10, "exclude_seen": true}""");
            Assert.Equal(200, status);
            Assert.Equal(10, body["item_ids"]!.AsArray().Count);
        }
        // No tree-learning round: the first tree's model is the bundle; the other negative sources and unfrozen parts run too.
        Assert.Equal(0, Vrecall(["tdm", "fit", .. data, "--user-init", dir.File("b"), "--bundle", dir.File("f0"), "--epochs", "1", "--batch-size", "64", "--beam", "20",
            "--rounds", "0", "--negative-source", "beam", "--freeze-user", "false", "--freeze-leaves", "false", "--checkpoint-dir", dir.File("fc0")]));
        Assert.False(Directory.Exists(Path.Combine(dir.File("fc0"), "tree_2")));
        Assert.True(File.Exists(Path.Combine(dir.File("f0"), "manifest.json")));
        // The leaf scorer's stage: on by default, off with --leaf-mlp 0 (the bundle then ranks its leaves by inner product).
        Assert.Equal(0, Vrecall(["tdm", "fit", .. data, "--user-init", dir.File("b"), "--bundle", dir.File("f1"), "--epochs", "1", "--batch-size", "64", "--beam", "20",
            "--rounds", "0", "--leaf-mlp", "0", "--checkpoint-dir", dir.File("fc1")]));
        Assert.Contains("\"InnerProduct\"", File.ReadAllText(Path.Combine(dir.File("f1"), "manifest.json")));
        Assert.Equal(1, Vrecall(["tdm", "fit", .. data, "--user-init", dir.File("b"), "--bundle", dir.File("g"), "--leaf-mlp", "-3", "--checkpoint-dir", dir.File("gc")]));
        Assert.Equal(1, Vrecall(["tdm", "fit", .. data, "--user-init", dir.File("b"), "--bundle", dir.File("g"), "--leaf-epochs", "0", "--checkpoint-dir", dir.File("gc")]));
        // Bad input: a user-init that is no bundle, an unknown negative source, a negative round count; no bundle is left behind.
        Assert.Equal(1, Vrecall(["tdm", "fit", .. data, "--user-init", dir.File("nothing"), "--bundle", dir.File("g"), "--checkpoint-dir", dir.File("gc")]));
        Assert.Equal(1, Vrecall(["tdm", "fit", .. data, "--user-init", dir.File("b"), "--bundle", dir.File("g"), "--negative-source", "best", "--checkpoint-dir", dir.File("gc")]));
        Assert.Equal(1, Vrecall(["tdm", "fit", .. data, "--user-init", dir.File("b"), "--bundle", dir.File("g"), "--rounds", "-1", "--checkpoint-dir", dir.File("gc")]));
        Assert.False(Directory.Exists(dir.File("g")));
    }

    [Fact]
    public void FitStartsFromASequenceBundleAndKeepsItsEncoderFrozen()
    {
        using var dir = new TempDir();
        var data = SmallSequenceBundle.Train(dir);
        Assert.Equal(0, Vrecall(["train", .. data, "--user-encoder", "sequence", "--epochs", "1", "--batch-size", "32", "--embedding-dim", "16", "--max-length", "5",
            "--bundle", dir.File("s"), "--run-dir", dir.File("sr")]));
        string[] fit = ["tdm", "fit", .. data, "--user-init", dir.File("s"), "--epochs", "1", "--batch-size", "64", "--beam", "20"];
        Assert.Equal(0, Vrecall([.. fit, "--scorer", "mlp", "--mlp", "8", "--bundle", dir.File("f"), "--checkpoint-dir", dir.File("fc")]));
        Assert.True(File.Exists(Path.Combine(dir.File("fc"), "mlp", "best_model.safetensors")));
        using (var service = VectorRecall.Serving.RecallService.FromBundle(dir.File("f")))
        {
            Assert.Equal(VectorRecall.Serving.BundleKind.Tdm, service.Kind);
            Assert.Equal(10, service.Recall(new VectorRecall.Retrieval.UserQuery(3), 10, excludeSeen: true).ItemIds.Distinct().Count());
        }
        Assert.Equal(0, Vrecall(["eval", .. data, "--bundle", dir.File("s"), dir.File("f")]));
        // The encoder is not trained by the tree model, so asking for it is refused before any work; no bundle is left behind.
        Assert.Equal(1, Vrecall([.. fit, "--freeze-user", "false", "--bundle", dir.File("g"), "--checkpoint-dir", dir.File("gc")]));
        Assert.False(Directory.Exists(dir.File("g")));
    }
}
