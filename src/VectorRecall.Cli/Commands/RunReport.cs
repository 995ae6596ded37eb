using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using VectorRecall.IO;
using VectorRecall.Retrieval;

namespace VectorRecall.Cli.Commands;

/// <summary>
/// Draws a run folder's <c>report.html</c> from its <c>metrics.jsonl</c> and <c>config.json</c>: training curves (losses, and
/// validation recall when it picked the epoch), every metric against K for each retriever evaluated, timings, and the
/// configuration. Charts are PNG files beside the page (ScottPlot), so the folder opens anywhere without a server.
/// </summary>
internal static class RunReport
{
    public const string ReportFile = "report.html";

    private const int Width = 720, Height = 400;

    /// <summary>Writes the report and its charts into <paramref name="runDir"/>; returns the page's path.</summary>
    public static string Write(string runDir)
    {
        var lines = ReadMetrics(runDir);
        var epochs = Events(lines, "epoch");
        var evaluations = Events(lines, "evaluation");
        var timings = Events(lines, "timing");
        var notes = Events(lines, "note");

        var images = new List<(string File, string Caption)>();
        if (epochs.Count > 0)
        {
            images.Add((Curves(runDir, "training.png", "Training", "loss", epochs, ["train_loss", "val_loss"]), "Loss per epoch (training; validation where measured)"));
            string recallKey = $"val_recall@{Training.EpochTrainer<object>.SelectionK}";
            if (epochs.Any(e => e[recallKey] is not null))
                images.Add((Curves(runDir, "validation.png", "Validation", recallKey, epochs, [recallKey]), "Validation recall per epoch (what chose the served epoch)"));
        }
        foreach (var metric in RankingMetricNames.All.Take(3))
            if (evaluations.Count > 0 && AtK(evaluations[0], metric.Key()).Count > 0)
                images.Add((ByK(runDir, $"{metric.Key()}.png", metric, evaluations), $"{metric.Label()}@K on the test split, per retriever"));

        string config = File.Exists(Path.Combine(runDir, RunLog.ConfigFile)) ? File.ReadAllText(Path.Combine(runDir, RunLog.ConfigFile)) : "{}";
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(runDir)));
        string path = Path.Combine(runDir, ReportFile);
        WritePage(path, $"{name} — VectorRecall run", Body(name, images, evaluations, timings, notes, epochs.Count, config));
        return path;
    }

    /// <summary>Every line of <c>metrics.jsonl</c> as an object; a line that is not one is refused with its number.</summary>
    private static List<JsonObject> Read(string path)
    {
        var result = new List<JsonObject>();
        int number = 0;
        foreach (string line in File.ReadLines(path))
        {
            number++;
            if (line.Trim().Length == 0) continue;
            JsonNode? node;
            try { node = JsonNode.Parse(line); }
            catch (JsonException e) { throw new FileFormatException(path, $"line {number}: not valid JSON ({e.Message.Split('.')[0]})"); }
            result.Add(node as JsonObject ?? throw new FileFormatException(path, $"line {number}: expected a JSON object"));
        }
        return result;
    }

    /// <summary>A run folder's metrics.jsonl, one object per line; refused when the folder or file is missing.</summary>
    public static List<JsonObject> ReadMetrics(string runDir)
    {
        string path = Path.Combine(runDir, RunLog.MetricsFile);
        if (!Directory.Exists(runDir)) throw new DirectoryNotFoundException($"run folder '{Path.GetFullPath(runDir)}' does not exist");
        if (!File.Exists(path)) throw new FileFormatException(path, "missing: this folder is not a training run");
        return Read(path);
    }

    /// <summary>The lines of one event kind (epoch, evaluation, timing, note).</summary>
    public static List<JsonObject> Events(List<JsonObject> lines, string kind) =>
        [.. lines.Where(l => l["event"] is JsonValue v && v.TryGetValue(out string? s) && s == kind)];

    private static double? Number(JsonNode? node) => node is JsonValue v && v.TryGetValue(out double d) && double.IsFinite(d) ? d : null;

    /// <summary>An evaluation line's values of one metric, by K.</summary>
    private static SortedDictionary<int, double> AtK(JsonObject evaluation, string metric)
    {
        var values = new SortedDictionary<int, double>();
        if (evaluation["metrics"] is not JsonObject metrics) return values;
        foreach (var (key, value) in metrics)
        {
            int at = key.IndexOf('@');
            if (at > 0 && key[..at] == metric && int.TryParse(key[(at + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int k) && Number(value) is { } v)
                values[k] = v;
        }
        return values;
    }

    private static string Curves(string runDir, string file, string title, string yLabel, List<JsonObject> epochs, string[] keys)
    {
        var plot = new ScottPlot.Plot();
        foreach (string key in keys)
        {
            var points = epochs.Select(e => (X: Number(e["epoch"]), Y: Number(e[key]))).Where(p => p.X is not null && p.Y is not null).ToArray();
            if (points.Length == 0) continue;
            var line = plot.Add.Scatter(points.Select(p => p.X!.Value).ToArray(), points.Select(p => p.Y!.Value).ToArray());
            line.LegendText = key;
        }
        return Save(plot, runDir, file, title, "epoch", yLabel);
    }

    private static string ByK(string runDir, string file, RankingMetric metric, List<JsonObject> evaluations)
    {
        var plot = new ScottPlot.Plot();
        foreach (var evaluation in evaluations)
        {
            var values = AtK(evaluation, metric.Key());
            if (values.Count == 0) continue;
            var line = plot.Add.Scatter(values.Keys.Select(k => (double)k).ToArray(), values.Values.ToArray());
            line.LegendText = (string?)evaluation["retriever"] ?? "?";
        }
        return Save(plot, runDir, file, $"{metric.Label()}@K", "K", metric.Label());
    }

    /// <summary>Titles a chart, labels its axes, shows its legend and writes it as <paramref name="file"/> (a PNG) in <paramref name="folder"/>.</summary>
    private static string Save(ScottPlot.Plot plot, string folder, string file, string title, string x, string y)
    {
        plot.Title(title);
        plot.XLabel(x);
        plot.YLabel(y);
        plot.ShowLegend();
        plot.SavePng(Path.Combine(folder, file), Width, Height);
        return file;
    }

    private static string E(string? s) => WebUtility.HtmlEncode(s ?? "");

    /// <summary>
    /// A self-contained page around <paramref name="body"/>, ending with a line that says whether every chart loaded (what a
    /// headless browser, and the report's test, read back), written in one step to <paramref name="path"/>.
    /// </summary>
    private static void WritePage(string path, string title, string body)
    {
        string page = $"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{E(title)}</title>\n" +
            "<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:1100px;color:#222}table{border-collapse:collapse;margin:1rem 0}" +
            "td,th{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}th:first-child,td:first-child{text-align:left}" +
            "figure{display:inline-block;margin:.5rem}figcaption{font-size:.9rem;color:#555}pre{background:#f6f6f6;padding:1rem;overflow:auto}</style></head>\n<body>\n" +
            body +
            "<p id=\"images-loaded\"></p>\n<script>window.addEventListener('load',()=>{const i=[...document.images];" +
            "document.getElementById('images-loaded').textContent=i.filter(x=>x.complete&&x.naturalWidth>0).length+'/'+i.length+' charts loaded';});</script>\n" +
            "</body></html>\n";
        AtomicFile.Write(path, st => st.Write(Encoding.UTF8.GetBytes(page)));
    }

    /// <summary>The body of a run's page: charts, quality table, timings and notes, configuration.</summary>
    private static string Body(string name, List<(string File, string Caption)> images, List<JsonObject> evaluations, List<JsonObject> timings, List<JsonObject> notes, int epochs, string config)
    {
        var h = new StringBuilder();
        h.Append($"<h1>{E(name)}</h1>\n<p>{epochs} epoch(s) logged; {evaluations.Count} retriever(s) evaluated. Regenerate with <code>vrecall report {E(name)}</code>.</p>\n");
        if (images.Count > 0)
        {
            h.Append("<h2>Charts</h2>\n");
            foreach (var (file, caption) in images)
                h.Append($"<figure><img src=\"{E(file)}\" width=\"{Width}\" height=\"{Height}\" alt=\"{E(caption)}\"><figcaption>{E(caption)}</figcaption></figure>\n");
        }
        if (evaluations.Count > 0)
        {
            h.Append("<h2>Quality (test split)</h2>\n<table><tr><th>metric</th>");
            foreach (var e in evaluations) h.Append($"<th>{E((string?)e["retriever"])}</th>");
            h.Append("</tr>\n");
            var keys = evaluations.SelectMany(e => (e["metrics"] as JsonObject)?.Select(m => m.Key) ?? []).Distinct().ToList();
            foreach (string key in keys)
            {
                h.Append($"<tr><td>{E(key)}</td>");
                foreach (var e in evaluations) h.Append($"<td>{(Number((e["metrics"] as JsonObject)?[key]) is { } v ? v.ToString("F4", CultureInfo.InvariantCulture) : "")}</td>");
                h.Append("</tr>\n");
            }
            h.Append("</table>\n");
        }
        if (timings.Count > 0 || notes.Count > 0)
        {
            h.Append("<h2>Timings and notes</h2>\n<table>");
            foreach (var t in timings) h.Append($"<tr><td>{E((string?)t["phase"])}</td><td>{Number(t["seconds"])?.ToString("F2", CultureInfo.InvariantCulture)} s</td></tr>\n");
            foreach (var n in notes) h.Append($"<tr><td>{E((string?)n["key"])}</td><td>{E(n["value"]?.ToJsonString())}</td></tr>\n");
            h.Append("</table>\n");
        }
        h.Append($"<h2>Configuration</h2>\n<pre>{E(config)}</pre>\n");
        return h.ToString();
    }

    /// <summary>
    /// <c>bench ann --json</c> results (one file per index or storage kind) drawn together: recall@k against single-thread
    /// QPS, the picture ann-benchmarks draws, and a table of every row; written to <paramref name="output"/>.
    /// </summary>
    public static string WriteBench(IReadOnlyList<string> files, string output)
    {
        var series = new List<(string Name, JsonObject Result)>();
        foreach (string file in files)
        {
            if (!File.Exists(file)) throw new FileNotFoundException($"{file}: no such file", file);
            JsonNode? node;
            try { node = JsonNode.Parse(File.ReadAllText(file)); }
            catch (JsonException e) { throw new FileFormatException(file, $"not valid JSON ({e.Message.Split('.')[0]})"); }
            if (node is not JsonObject result || result["single_thread"] is not JsonArray)
                throw new FileFormatException(file, "is not a bench ann --json result (no single_thread rows)");
            series.Add(((string?)result["index"] ?? Path.GetFileNameWithoutExtension(file), result));
        }
        string folder = Path.GetDirectoryName(Path.GetFullPath(output))!;
        string image = Path.GetFileNameWithoutExtension(output) + ".png";
        var plot = new ScottPlot.Plot();
        foreach (var (name, result) in series)
        {
            var rows = ((JsonArray)result["single_thread"]!).OfType<JsonObject>().Select(r => (Recall: Number(r["recall"]), Qps: Number(r["qps"]))).Where(r => r.Recall is not null && r.Qps is > 0).ToArray();
            if (rows.Length == 0) continue;
            var line = plot.Add.Scatter(rows.Select(r => r.Recall!.Value).ToArray(), rows.Select(r => Math.Log10(r.Qps!.Value)).ToArray());
            line.LegendText = name;
        }
        Save(plot, folder, image, "Recall against queries per second (one thread)", $"recall@{series[0].Result["k"]?.ToString() ?? "k"}", "log10 QPS");

        var h = new StringBuilder();
        h.Append($"<h1>bench ann</h1>\n<img src=\"{E(image)}\" width=\"{Width}\" height=\"{Height}\" alt=\"recall against QPS\">\n<table><tr><th>index</th><th>build s</th><th>bytes/vector</th><th>ef</th><th>recall</th><th>QPS</th><th>p50 ms</th><th>p99 ms</th></tr>\n");
        foreach (var (name, result) in series)
            foreach (var row in ((JsonArray)result["single_thread"]!).OfType<JsonObject>())
                h.Append($"<tr><td>{E(name)}</td><td>{Number(result["build_s"])?.ToString("F1", CultureInfo.InvariantCulture)}</td><td>{Number(result["bytes_per_vector"])?.ToString("F0", CultureInfo.InvariantCulture)}</td>" +
                         $"<td>{row["ef"]}</td><td>{Number(row["recall"])?.ToString("F4", CultureInfo.InvariantCulture)}</td><td>{Number(row["qps"])?.ToString("F0", CultureInfo.InvariantCulture)}</td>" +
                         $"<td>{Number(row["p50_ms"])?.ToString("F3", CultureInfo.InvariantCulture)}</td><td>{Number(row["p99_ms"])?.ToString("F3", CultureInfo.InvariantCulture)}</td></tr>\n");
        h.Append("</table>\n");
        WritePage(output, "bench ann", h.ToString());
        return output;
    }
}
