using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using VectorRecall.IO;
using VectorRecall.Retrieval;
using VectorRecall.Training;

namespace VectorRecall.Cli.Commands;

/// <summary>
/// A training run's folder: <c>config.json</c> (the effective options), <c>metrics.jsonl</c> (one JSON object per line and
/// event: each epoch, each evaluation, timings), the checkpoints unless put elsewhere, and <c>report.html</c> drawn from
/// them (<see cref="RunReport"/>). Lines are appended and flushed one at a time, so a run stopped midway leaves whole lines
/// and <c>vrecall report</c> can draw what it got.
/// </summary>
internal sealed class RunLog
{
    public const string ConfigFile = "config.json", MetricsFile = "metrics.jsonl";

    private RunLog(string directory) => Directory = directory;

    public string Directory { get; }

    /// <summary>The default folder of a run: <c>runs/&lt;yyyyMMdd-HHmmss&gt;-&lt;name&gt;</c>, sortable by start time.</summary>
    public static string DefaultFolder(DateTime started, string name) =>
        Path.Combine("runs", $"{started.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}-{Safe(name)}");

    /// <summary>Opens (creating) a run folder and writes the effective configuration.</summary>
    public static RunLog Start(string directory, JsonObject config)
    {
        System.IO.Directory.CreateDirectory(directory);
        var log = new RunLog(directory);
        AtomicFile.Write(Path.Combine(directory, ConfigFile), s =>
        {
            using var w = new Utf8JsonWriter(s, new JsonWriterOptions { Indented = true });
            config.WriteTo(w);
        });
        return log;
    }

    /// <summary>How run configurations are written: enums by name, snake_case keys, NaN allowed.</summary>
    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    /// <summary>A configuration object from named parts (option records, model configurations), each serialised as <see cref="JsonOptions"/> says.</summary>
    public static JsonObject Config(params (string Key, object Value)[] parts)
    {
        var config = new JsonObject();
        foreach (var (key, value) in parts) config[key] = JsonSerializer.SerializeToNode(value, value.GetType(), JsonOptions);
        return config;
    }

    /// <summary>
    /// Runs a trainer with progress, recording the run in its checkpoint folder (configuration, a metrics line per epoch,
    /// report.html at the end): how the TDM and RQ-VAE commands keep their runs.
    /// </summary>
    public static void Trace<TBatch>(EpochTrainer<TBatch> trainer, JsonObject config, CancellationToken token, bool checkpointEpochsOnly = false) where TBatch : class
    {
        var run = Start(trainer.CheckpointDir, config);
        TrainingProgress.Run(trainer, token, checkpointEpochsOnly, run.Epoch);
        RunReport.Write(trainer.CheckpointDir);
    }

    public void Epoch(EpochResult e)
    {
        var line = new JsonObject { ["event"] = "epoch", ["epoch"] = e.Epoch, ["train_loss"] = e.TrainLoss };
        if (!double.IsNaN(e.ValidationLoss)) line["val_loss"] = e.ValidationLoss;
        if (!double.IsNaN(e.ValidationRecall)) line[$"val_recall@{EpochTrainer<object>.SelectionK}"] = e.ValidationRecall;
        line["lr"] = e.LearningRate;
        line["seconds"] = Math.Round(e.Seconds, 3);
        line["samples_per_second"] = Math.Round(e.SamplesPerSecond);
        Append(line);
    }

    /// <summary>One retriever's metrics at every K on the test split.</summary>
    public void Evaluation(string retriever, RankingMetrics metrics, IReadOnlyList<int> ks, int users)
    {
        var values = new JsonObject();
        foreach (var metric in RankingMetricNames.All)
            foreach (int k in ks)
                values[$"{metric.Key()}@{k}"] = Math.Round(metrics.Get(metric, k), 6);
        Append(new JsonObject { ["event"] = "evaluation", ["retriever"] = retriever, ["users"] = users, ["metrics"] = values });
    }

    public void Timing(string phase, double seconds) => Append(new JsonObject { ["event"] = "timing", ["phase"] = phase, ["seconds"] = Math.Round(seconds, 3) });

    public void Note(string key, JsonNode value) => Append(new JsonObject { ["event"] = "note", ["key"] = key, ["value"] = value });

    private void Append(JsonObject line)
    {
        line["time_utc"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture);
        using var file = new FileStream(Path.Combine(Directory, MetricsFile), FileMode.Append, FileAccess.Write, FileShare.Read);
        file.Write(Encoding.UTF8.GetBytes(line.ToJsonString() + "\n"));
    }

    /// <summary>A name fit for a folder: letters, digits, '-', '_' and '.'; anything else becomes '_'.</summary>
    private static string Safe(string name)
    {
        var chars = name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_').ToArray();
        return chars.Length == 0 ? "run" : new string(chars);
    }
}
