using System.Diagnostics;
using System.Text.Json.Nodes;

namespace VectorRecall.Tests.Cli;

/// <summary>A training run leaves a folder that records it: configuration, a metrics line per event, checkpoints, a report with charts.</summary>
[Collection(ConsoleCollection.Name)]
public class RunFolderTests
{
    private static string TrainSmall(TempDir dir)
    {
        var lines = new List<string> { "user,item,time" };
        var rng = new VectorRecall.Numerics.Rng(5);
        for (int u = 0; u < 120; u++)
            for (int k = 0; k < 5; k++) lines.Add($"u{u},i{u % 3 * 20 + rng.NextInt(20)},{k}");
        File.WriteAllLines(dir.File("small.csv"), lines);
        var (code, output) = CliRun.CaptureOutput(["train", "--data", dir.File("small.csv"), "--epochs", "2", "--embedding-dim", "16", "--bundle", dir.File("b"),
            "--run-dir", dir.File("run"), "--save-limit", "1", "--eval-users", "50"]);
        Assert.True(code == 0, output);
        Assert.Contains("report.html", output);
        return dir.File("run");
    }

    [Fact]
    public void ARunRecordsItsConfigEpochsEvaluationsAndDrawsItsReport()
    {
        using var dir = new TempDir();
        string run = TrainSmall(dir);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(run, "config.json")))!;
        Assert.Equal("csv", (string)config["dataset"]!);
        Assert.Equal(16, (int)config["embedding_dim"]!);
        var events = File.ReadAllLines(Path.Combine(run, "metrics.jsonl")).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal([1, 2], events.Where(e => (string)e["event"]! == "epoch").Select(e => (int)e["epoch"]!));
        var evaluations = events.Where(e => (string)e["event"]! == "evaluation").ToList();
        Assert.Contains(evaluations, e => ((string)e["retriever"]!).EndsWith("exact"));
        Assert.All(evaluations, e => Assert.NotNull(e["metrics"]!["recall@20"]));
        Assert.Equal(["best_model.safetensors", "checkpoint_epoch_2.safetensors"], Directory.GetFiles(Path.Combine(run, "checkpoints")).Select(Path.GetFileName).Order());

        string html = File.ReadAllText(Path.Combine(run, "report.html"));
        var images = System.Text.RegularExpressions.Regex.Matches(html, "<img src=\"([^\"]+)\"").Select(m => m.Groups[1].Value).ToList();
        Assert.Contains("training.png", images);
        Assert.Contains("recall.png", images);
        Assert.All(images, image => Assert.True(new FileInfo(Path.Combine(run, image)).Length > 1000, image));
        Assert.Contains("u0", File.ReadAllText(Path.Combine(dir.File("b"), "user_ids.json")));

        // Drawn again from the metrics alone; a damaged metrics line is one error naming it.
        File.Delete(Path.Combine(run, "report.html"));
        Assert.Equal(0, CliRun.CaptureOutput(["report", run]).Code);
        Assert.True(File.Exists(Path.Combine(run, "report.html")));
        File.AppendAllText(Path.Combine(run, "metrics.jsonl"), "{\"event\": \"epoch\", \"epoch\": \n");
        var (code, error) = CliRun.Capture(["report", run]);
        Assert.Equal(1, code);
        Assert.Contains("metrics.jsonl: line", error);
        Assert.Single(error.Trim().Split('\n'));
        Assert.Equal(1, CliRun.Capture(["report", dir.File("nothing")]).Code);
    }

    [ChromiumFact]
    public void TheReportShowsEveryChartInAHeadlessBrowser()
    {
        using var dir = new TempDir();
        string run = TrainSmall(dir);
        var start = new ProcessStartInfo(ChromiumFactAttribute.Path!, ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000", "--dump-dom", new Uri(Path.Combine(run, "report.html")).AbsoluteUri])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var browser = Process.Start(start)!;
        string dom = browser.StandardOutput.ReadToEnd();
        Assert.True(browser.WaitForExit(60_000));
        var loaded = System.Text.RegularExpressions.Regex.Match(dom, "id=\"images-loaded\">(\\d+)/(\\d+) charts loaded");
        Assert.True(loaded.Success, dom.Length > 400 ? dom[..400] : dom);
        Assert.Equal(loaded.Groups[2].Value, loaded.Groups[1].Value);
        Assert.NotEqual("0", loaded.Groups[2].Value);
    }

    [Fact]
    public void BenchResultsAreDrawnTogetherAsRecallAgainstQps()
    {
        using var dir = new TempDir();
        foreach (var (name, qps) in new[] { ("a", 1000), ("b", 3000) })
            File.WriteAllText(dir.File($"{name}.json"), $$"""
                {"k": 10, "build_s": 1.5, "index": "HNSW16,{{name}}", "bytes_per_vector": 800,
                 "single_thread": [{"ef": 10, "recall": 0.8, "qps": {{qps}}, "p50_ms": 0.5, "p99_ms": 1}, {"ef": 40, "recall": 0.95, "qps": {{qps / 3}}, "p50_ms": 1.5, "p99_ms": 3}]}
                """);
        var (code, output) = CliRun.CaptureOutput(["report", dir.File("a.json"), dir.File("b.json"), "--output", dir.File("ann.html")]);
        Assert.True(code == 0, output);
        string html = File.ReadAllText(dir.File("ann.html"));
        Assert.Contains("<img src=\"ann.png\"", html);
        Assert.Contains("HNSW16,b", html);
        Assert.True(new FileInfo(dir.File("ann.png")).Length > 1000);
        File.WriteAllText(dir.File("c.json"), """{"k": 10}""");
        var (bad, error) = CliRun.Capture(["report", dir.File("c.json")]);
        Assert.Equal(1, bad);
        Assert.Contains("not a bench ann --json result", error);
    }
}
