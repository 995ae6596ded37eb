using VectorRecall.Data;
using VectorRecall.Numerics;
using VectorRecall.Serving;
using VectorRecall.TwoTower;
using VectorRecall.Training;
using VectorRecall.Towers;

namespace VectorRecall.Tests;

/// <summary>A small synthetic set, a model trained on it for three epochs, and its serving bundle, shared by the pipeline tests.</summary>
public sealed class TrainedSmallModel : IDisposable
{
    public TrainedSmallModel()
    {
        Synthetic = SyntheticGenerator.Generate(new SyntheticOptions { NumUsers = 400, NumItems = 2000, NumInteractions = 16000, Topics = 10, Seed = 7 });
        Data = Synthetic.Dataset;
        Config = ConfigFor(Data, embeddingDim: 32);
        Model = new TwoTowerModel(Config, new Rng(1));
        Trainer = new TrainerOptions { Epochs = 3, BatchSize = 256, LearningRate = 3e-3, CheckpointDir = Dir.File("checkpoints"), Seed = 5 };
        Results = new TwoTowerTrainer(Model, Data, Trainer).Train();
        ItemVectors = TowerEncoder.EncodeItems(Model.Item, Data.Items);
        Known = Data.Train.Concat(Data.Validation);
        using var index = TowerEncoder.BuildIndex(ItemVectors, "HNSW16,efc=100,efs=200");
        ItemIds = Enumerable.Range(0, Data.ItemCount).Select(i => 1000L + i).ToArray();
        ServingBundle.Save(BundlePath, Model, index, ItemVectors, ItemIds, Data.UserFeatures, Known, Known);
    }

    public static TowerConfig ConfigFor(RecDataset d, int embeddingDim) => new()
    {
        NumUsers = d.UserCount, NumItems = d.ItemCount, UserFeatures = d.UserFeatures.Cols, ItemFeatures = d.Items.FeatureCount,
        Categories = d.Items.CategoryCount, Tags = d.Items.TagCount, IdDim = 16, FeatureDim = 16, BehaviourDim = 16, CategoryDim = 8, TagDim = 8,
        Hidden = [64, 32], EmbeddingDim = embeddingDim,
    };

    internal TempDir Dir { get; } = new();
    internal SyntheticData Synthetic { get; }
    public RecDataset Data { get; }
    public TowerConfig Config { get; }
    public TwoTowerModel Model { get; }
    public TrainerOptions Trainer { get; }
    public IReadOnlyList<EpochResult> Results { get; }
    public Tensor ItemVectors { get; }
    public UserItemLists Known { get; }
    public long[] ItemIds { get; }
    public string BundlePath => Dir.File("bundle");

    public void Dispose() => Dir.Dispose();

    /// <summary>The same model's bundle with an exact (flat) index instead of HNSW, written to <paramref name="path"/>.</summary>
    public string SaveFlatBundle(string path)
    {
        using var flat = TowerEncoder.BuildIndex(ItemVectors, "Flat");
        ServingBundle.Save(path, Model, flat, ItemVectors, ItemIds, Data.UserFeatures, Known, Known);
        return path;
    }

    /// <summary>
    /// One model for every test that only reads it (servers over copies of its bundle, CLI runs on it):
    /// trained once per test run instead of once per test class, removed when the run ends.
    /// </summary>
    public static TrainedSmallModel Shared => SharedModel.Value;

    private static readonly Lazy<TrainedSmallModel> SharedModel = new(() =>
    {
        var model = new TrainedSmallModel();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => model.Dispose();
        return model;
    });
}
