using VectorRecall.Indexing;
using VectorRecall.Numerics;
using VectorRecall.Tdm;

namespace VectorRecall.Tests.Cli;

/// <summary><c>vrecall inspect</c> reads the project's own files: bundle folders, trees, and indexes whatever their name.</summary>
[Collection(ConsoleCollection.Name)]
public class InspectCommandTests
{
    private static (int Code, string Output) Inspect(string path) => CliRun.CaptureOutput(["inspect", path]);

    [Fact]
    public void ABundleATreeAndAnIndexUnderAnyNameAreDescribed()
    {
        using var dir = new TempDir();
        SmallSequenceBundle.Train(dir);
        var (code, text) = Inspect(dir.File("b"));
        Assert.Equal(0, code);
        Assert.Contains("bundle", text);
        Assert.Contains("items.vrix", text);

        var vectors = VectorSets.Clustered(64, 8, 4, 2);
        var tree = TreeBuilder.Build(Tensor.FromArray(vectors, 64, 8), new TreeBuildOptions());
        tree.Save(dir.File("tree.bin"));
        (code, text) = Inspect(dir.File("tree.bin"));
        Assert.Equal(0, code);
        Assert.Contains("TDM tree, 64 items, branch 2", text);

        using (var index = new HnswIndex(8, Metric.L2, new HnswOptions { Storage = VectorStorage.SQ4 }))
        {
            index.Add(VectorSets.Ids(64), vectors);
            index.Save(dir.File("items.index"));
        }
        (code, text) = Inspect(dir.File("items.index"));
        Assert.Equal(0, code);
        Assert.Contains("HnswIndex, 64 vectors of dimension 8", text);
        Assert.Contains("storage SQ4 (refine 4)", text);

        Assert.Equal(1, Inspect(dir.File("missing")).Code);
    }

    [Fact]
    public void RunFoldersSemanticIdsAndCheckpointsAreDescribedAndEveryDescriptionIsJsonToo()
    {
        using var dir = new TempDir();
        SmallSequenceBundle.Train(dir);
        var (code, text) = Inspect(dir.File("run"));
        Assert.Equal(0, code);
        Assert.Contains("training run, 1 epoch(s)", text);

        VectorRecall.SemanticIds.SemanticIdFile.Write(dir.File("ids.json"), new VectorRecall.SemanticIds.SemanticCodes([1, 2, 3, 4], [8, 8]), VectorRecall.Data.IdMap.FromKeys(["sku-1", "sku-2"]));
        (code, text) = Inspect(dir.File("ids.json"));
        Assert.Equal(0, code);
        Assert.Contains("semantic ids, 2 items keyed by text ids, 2 levels", text);

        string checkpoint = Path.Combine(dir.File("run"), "checkpoints", "best_model.safetensors");
        (code, text) = Inspect(checkpoint);
        Assert.Equal(0, code);
        Assert.Contains("metadata", text);

        foreach (var path in new[] { dir.File("b"), dir.File("run"), dir.File("ids.json"), checkpoint, Path.Combine(dir.File("b"), "items.vrix"), Path.Combine(dir.File("b"), "item_vectors.npy") })
        {
            (code, text) = CliRun.CaptureOutput(["inspect", path, "--json"]);
            Assert.Equal(0, code);
            var json = System.Text.Json.Nodes.JsonNode.Parse(text)!;
            Assert.Equal(path, (string)json["path"]!);
            Assert.NotNull(json["kind"]);
        }
    }
}
