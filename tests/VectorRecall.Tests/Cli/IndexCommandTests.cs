using VectorRecall.Indexing;
using VectorRecall.IO;
using VectorRecall.Numerics;

namespace VectorRecall.Tests.Cli;

[Collection(ConsoleCollection.Name)]
public class IndexCommandTests
{
    private static int Vrecall(params string[] args) => VectorRecall.Cli.Program.Main(args);

    [Fact]
    public void AQuantisedIndexIsBuiltBenchmarkedAndInspected()
    {
        using var dir = new TempDir();
        const int n = 600, dim = 16, k = 5;
        var data = VectorSets.Clustered(n, dim, 8, 4);
        Npy.Write(dir.File("base.npy"), data, [n, dim]);
        Npy.Write(dir.File("queries.npy"), data.AsSpan(0, 20 * dim), [20, dim]);
        var flat = new FlatIndex(dim, Metric.InnerProduct);
        flat.Add(Enumerable.Range(0, n).Select(i => (long)i).ToArray(), data);
        var truth = new int[20 * k];
        var ids = new long[k];
        for (int q = 0; q < 20; q++)
        {
            flat.Search(data.AsSpan(q * dim, dim), k, ids, new float[k]);
            for (int j = 0; j < k; j++) truth[q * k + j] = (int)ids[j];
        }
        Npy.Write(dir.File("truth.npy"), truth, [20, k]);

        Assert.Equal(0, Vrecall("index", "build", "--data", dir.File("base.npy"), "--storage", "sq8", "--refine", "3", "--m", "8", "--output", dir.File("sq8.vrix")));
        using (var loaded = Assert.IsType<HnswIndex>(IndexFactory.Load(dir.File("sq8.vrix"))))
            Assert.Equal((VectorStorage.SQ8, 3), (loaded.Options.Storage, loaded.Options.Refine));
        Assert.Equal(0, Vrecall("inspect", dir.File("sq8.vrix")));
        Assert.Equal(0, Vrecall("bench", "ann", "--base", dir.File("base.npy"), "--queries", dir.File("queries.npy"), "--truth", dir.File("truth.npy"),
            "--top-k", "5", "--ef-search", "20,40", "--storage", "sq8", "--runs", "1", "--json", dir.File("ann.json")));
        using (var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(dir.File("ann.json"))))
        {
            Assert.Equal("HNSW16,SQ8,refine=2", doc.RootElement.GetProperty("index").GetString());
            var rows = doc.RootElement.GetProperty("single_thread");
            Assert.Equal(2, rows.GetArrayLength());
            Assert.True(rows[1].GetProperty("recall").GetDouble() >= 0.9);
        }
        Assert.Equal(0, Vrecall("index", "build", "--data", dir.File("base.npy"), "--storage", "rabitq", "--m", "8", "--output", dir.File("rabitq.vrix")));
        using (var loaded = Assert.IsType<HnswIndex>(IndexFactory.Load(dir.File("rabitq.vrix"))))
            Assert.Equal(VectorStorage.RaBitQ, loaded.Options.Storage);
        Assert.Equal(0, Vrecall("inspect", dir.File("rabitq.vrix")));
        var (code, error) = CliRun.Capture(["index", "build", "--data", dir.File("base.npy"), "--storage", "sq2", "--output", dir.File("x.vrix")]);
        Assert.Equal(1, code);
        Assert.Contains("--storage", error);
        (code, error) = CliRun.Capture(["index", "build", "--data", dir.File("base.npy"), "--storage", "sq4", "--refine", "-1", "--output", dir.File("x.vrix")]);
        Assert.Equal(1, code);
        Assert.Contains("--refine must be at least 0", error);
        Assert.DoesNotContain("Parameter", error);
        // Half-precision exact vectors: kept by the file, shown by inspect and bench ann, refused with one line where no codes are refined.
        Assert.Equal(0, Vrecall("index", "build", "--data", dir.File("base.npy"), "--storage", "sq8", "--refine-storage", "fp16", "--m", "8", "--output", dir.File("sq8h.vrix")));
        using (var loaded = Assert.IsType<HnswIndex>(IndexFactory.Load(dir.File("sq8h.vrix"))))
            Assert.Equal(VectorStorage.FP16, loaded.Options.RefineStorage);
        (code, string output) = CliRun.CaptureOutput(["inspect", dir.File("sq8h.vrix")]);
        Assert.Equal(0, code);
        Assert.Contains("exact vectors in FP16", output);
        Assert.Equal(0, Vrecall("bench", "ann", "--base", dir.File("base.npy"), "--queries", dir.File("queries.npy"), "--truth", dir.File("truth.npy"),
            "--top-k", "5", "--ef-search", "40", "--storage", "sq8", "--refine-storage", "fp16", "--search-patience", "20", "--runs", "1", "--json", dir.File("annh.json")));
        using (var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(dir.File("annh.json"))))
        {
            Assert.Equal("HNSW16,SQ8,refine=2,refine_storage=FP16", doc.RootElement.GetProperty("index").GetString());
            Assert.Equal(20, doc.RootElement.GetProperty("search_patience").GetInt32());
        }
        (code, error) = CliRun.Capture(["bench", "ann", "--base", dir.File("base.npy"), "--queries", dir.File("queries.npy"), "--truth", dir.File("truth.npy"), "--search-patience", "-3"]);
        Assert.Equal(1, code);
        Assert.Contains("--search-patience must be at least 0", error);
        (code, error) = CliRun.Capture(["index", "build", "--data", dir.File("base.npy"), "--refine-storage", "fp16", "--output", dir.File("x.vrix")]);
        Assert.Equal(1, code);
        Assert.Contains("refine storage FP16 needs SQ8 or SQ4", error);
        Assert.DoesNotContain("Parameter", error);
        Assert.False(File.Exists(dir.File("x.vrix")));
    }
}
