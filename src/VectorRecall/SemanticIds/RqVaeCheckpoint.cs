using VectorRecall.IO;
using VectorRecall.Numerics;
using VectorRecall.Optim;
using VectorRecall.Training;

namespace VectorRecall.SemanticIds;

/// <summary>
/// RQ-VAE checkpoints: the shared training checkpoint (weights, position) whose metadata also keeps
/// the training data's path, so generation and evaluation can find the items again as the design
/// note's scripts do; the configuration inside rebuilds the model.
/// </summary>
public static class RqVaeCheckpoint
{
    public const string Format = "vrecall-rqvae";

    public static void Save(string path, RqVae model, CheckpointInfo info, string? dataPath, Optimizer? optimizer = null)
    {
        var metadata = new Dictionary<string, string>();
        if (dataPath is not null) metadata["data_path"] = Path.GetFullPath(dataPath);
        TrainingCheckpoint.Save(path, model, new CheckpointKind(Format, model.Config.ToJson()), optimizer, info, extraMetadata: metadata);
    }

    /// <summary>Loads a checkpoint of the same configuration into <paramref name="model"/> (and the optimiser's state, when given): resuming training.</summary>
    public static CheckpointInfo LoadInto(string path, RqVae model, Optimizer? optimizer) =>
        TrainingCheckpoint.Load(path, model, Format, m => TrainingCheckpoint.ConfigJson(path, m) == model.Config.ToJson(), model.Config.ToJson(), optimizer).Info;

    /// <summary>The model a checkpoint holds, its training position and the data path it was trained on (null when not recorded).</summary>
    public static (RqVae Model, CheckpointInfo Info, string? DataPath) Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"no RQ-VAE checkpoint at '{path}'", path);
        var metadata = SafeTensors.ReadMetadata(path);
        if (metadata.GetValueOrDefault("format") != Format)
            throw new FileFormatException(path, $"not an RQ-VAE checkpoint (metadata 'format' is '{metadata.GetValueOrDefault("format")}', expected '{Format}')");
        var config = RqVaeConfig.FromJson(TrainingCheckpoint.ConfigJson(path, metadata), path);
        var model = new RqVae(config, new Rng(0));
        var contents = TrainingCheckpoint.Load(path, model, Format, m => TrainingCheckpoint.ConfigJson(path, m) == config.ToJson(), config.ToJson());
        return (model, contents.Info, contents.Metadata.GetValueOrDefault("data_path"));
    }

    /// <summary>Checks that <paramref name="items"/> fit the model's input; names both files when they do not.</summary>
    public static void CheckData(RqVae model, Tensor items, string checkpoint, string dataPath)
    {
        if (items.Cols != model.Config.InDim)
            throw new ArgumentException($"'{dataPath}' has {items.Cols}-d vectors but the checkpoint '{checkpoint}' was trained on {model.Config.InDim}-d ones: a checkpoint from another configuration");
    }
}
