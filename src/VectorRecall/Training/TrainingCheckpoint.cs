using System.Globalization;
using System.Text.Json;
using VectorRecall.IO;
using VectorRecall.Numerics;
using VectorRecall.Optim;

namespace VectorRecall.Training;

/// <summary>What a training checkpoint records besides the weights.</summary>
public sealed record CheckpointInfo(int CompletedEpochs, int GlobalStep, double BestValidationLoss, int BestEpoch = 0, double BestValidationRecall = double.NegativeInfinity);

/// <summary>What identifies a model's checkpoints: a format name and the configuration (JSON) that fixes its parameter shapes.</summary>
public sealed record CheckpointKind(string Format, string ConfigJson);

/// <summary>
/// Training checkpoints as safetensors, for any model: its state dict under its own names,
/// optionally the optimiser's state under <c>optimizer/…</c> and extra arrays under <c>extra/…</c>
/// (a TDM model keeps its tree there), and in the metadata the format, the model configuration and
/// the training position. Loading checks the format and configuration before touching a weight.
/// </summary>
public static class TrainingCheckpoint
{
    private const string OptimizerPrefix = "optimizer/";
    private const string ExtraPrefix = "extra/";
    public static void Save(string path, Nn.Module model, CheckpointKind kind, Optimizer? optimizer, CheckpointInfo info, IReadOnlyDictionary<string, TypedArray>? extra = null,
        IReadOnlyDictionary<string, string>? extraMetadata = null)
    {
        var tensors = StateDictFile.Arrays(model).ToList();
        foreach (var (name, array) in extra ?? new Dictionary<string, TypedArray>()) tensors.Add(new(ExtraPrefix + name, array));
        var steps = new Dictionary<string, int>();
        if (optimizer is not null)
            foreach (var (i, (step, state)) in optimizer.StateDict())
            {
                steps[i.ToString(CultureInfo.InvariantCulture)] = step;
                for (int k = 0; k < state.Length; k++) tensors.Add(new($"{OptimizerPrefix}{i}/{k}", Float32([state[k].Length], state[k])));
            }
        var metadata = new Dictionary<string, string>
        {
            ["format"] = kind.Format,
            ["model_config"] = kind.ConfigJson,
            ["completed_epochs"] = info.CompletedEpochs.ToString(CultureInfo.InvariantCulture),
            ["global_step"] = info.GlobalStep.ToString(CultureInfo.InvariantCulture),
            ["best_val_loss"] = info.BestValidationLoss.ToString("R", CultureInfo.InvariantCulture),
            ["best_epoch"] = info.BestEpoch.ToString(CultureInfo.InvariantCulture),
            ["best_val_recall"] = info.BestValidationRecall.ToString("R", CultureInfo.InvariantCulture),
            ["optimizer_steps"] = JsonSerializer.Serialize(steps),
        };
        foreach (var (key, value) in extraMetadata ?? new Dictionary<string, string>())
            if (!metadata.TryAdd(key, value)) throw new ArgumentException($"metadata key '{key}' is the checkpoint's own");
        SafeTensors.Write(path, tensors, metadata);
    }

    /// <summary>A loaded checkpoint's training position, its metadata and its extra arrays.</summary>
    public sealed record Contents(CheckpointInfo Info, Dictionary<string, string> Metadata, Dictionary<string, TypedArray> Extra);

    /// <summary>
    /// Loads weights (and the optimiser's state, when given and present) into <paramref name="model"/>
    /// from a checkpoint of <paramref name="format"/> whose metadata <paramref name="sameShape"/> accepts;
    /// <paramref name="expectedConfig"/> is quoted when it does not.
    /// </summary>
    public static Contents Load(string path, Nn.Module model, string format, Func<Dictionary<string, string>, bool> sameShape, string expectedConfig, Optimizer? optimizer = null)
    {
        var (tensors, metadata) = SafeTensors.Read(path);
        if (metadata.GetValueOrDefault("format") != format)
            throw new FileFormatException(path, $"not a {format} checkpoint (metadata 'format' is '{metadata.GetValueOrDefault("format")}')");
        if (!sameShape(metadata))
            throw new FileFormatException(path, $"written for a different model shape: the file has {ConfigJson(path, metadata)}, the model is {expectedConfig}");
        var weights = new List<KeyValuePair<string, TypedArray>>();
        var optimizerArrays = new Dictionary<string, float[]>(StringComparer.Ordinal);
        var extra = new Dictionary<string, TypedArray>(StringComparer.Ordinal);
        foreach (var (name, array) in tensors)
        {
            if (name.StartsWith(ExtraPrefix, StringComparison.Ordinal)) { extra[name[ExtraPrefix.Length..]] = array; continue; }
            if (!name.StartsWith(OptimizerPrefix, StringComparison.Ordinal)) { weights.Add(new(name, array)); continue; }
            if (array.Type != ElementType.Float32) throw new FileFormatException(path, $"tensor '{name}' is {array.Type}, expected float32");
            optimizerArrays[name] = array.ToTensor().ToArray();
        }
        StateDictFile.LoadInto(path, model, weights);
        if (optimizer is not null && optimizerArrays.Count > 0) LoadOptimizer(path, metadata, optimizerArrays, optimizer);
        // best_epoch and best_val_recall came later than the other keys: a file without them reads as "unknown".
        int bestEpoch = metadata.ContainsKey("best_epoch") ? IntOf(path, metadata, "best_epoch") : 0;
        double bestRecall = metadata.ContainsKey("best_val_recall") ? DoubleOf(path, metadata, "best_val_recall") : double.NegativeInfinity;
        var info = new CheckpointInfo(IntOf(path, metadata, "completed_epochs"), IntOf(path, metadata, "global_step"), DoubleOf(path, metadata, "best_val_loss"), bestEpoch, bestRecall);
        return new Contents(info, metadata, extra);
    }

    /// <summary>The metadata's model configuration (JSON).</summary>
    public static string ConfigJson(string path, Dictionary<string, string> metadata) =>
        metadata.TryGetValue("model_config", out var json) ? json : throw new FileFormatException(path, "metadata has no 'model_config'");

    private static void LoadOptimizer(string path, Dictionary<string, string> metadata, Dictionary<string, float[]> arrays, Optimizer optimizer)
    {
        Dictionary<string, int>? steps;
        try { steps = JsonSerializer.Deserialize<Dictionary<string, int>>(metadata.GetValueOrDefault("optimizer_steps") ?? "{}"); }
        catch (JsonException e) { throw new FileFormatException(path, $"optimizer_steps is not valid JSON: {e.Message}"); }
        var state = new Dictionary<int, (int, float[][])>();
        foreach (var (key, step) in steps ?? [])
        {
            if (!int.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out int i)) throw new FileFormatException(path, $"optimizer_steps has a bad parameter index '{key}'");
            var list = new List<float[]>();
            for (int k = 0; arrays.TryGetValue($"{OptimizerPrefix}{i}/{k}", out var a); k++) list.Add(a);
            state[i] = (step, list.ToArray());
        }
        try { optimizer.LoadStateDict(state); }
        catch (InvalidDataException e) { throw new FileFormatException(path, e.Message); }
    }

    private static int IntOf(string path, Dictionary<string, string> m, string key) =>
        m.TryGetValue(key, out var v) && int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int x) && x >= 0
            ? x : throw new FileFormatException(path, $"metadata '{key}' is missing or not a non-negative integer");

    private static double DoubleOf(string path, Dictionary<string, string> m, string key) =>
        m.TryGetValue(key, out var v) && double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double x)
            ? x : throw new FileFormatException(path, $"metadata '{key}' is missing or not a number");

    private static TypedArray Float32(int[] shape, float[] data) => new(ElementType.Float32, shape, data);
}
