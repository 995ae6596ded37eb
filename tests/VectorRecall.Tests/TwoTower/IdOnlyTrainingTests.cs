using VectorRecall.Data;
using VectorRecall.Training;
using VectorRecall.Towers;
using VectorRecall.TwoTower;

namespace VectorRecall.Tests.TwoTower;

public class IdOnlyTrainingTests
{
    [Fact]
    public void AnIdOnlyDataSetWithAttributesTrainsAndServes()
    {
        using var dir = new TempDir();
        // 60 users, each with a run of 8 consecutive items out of 40, attributes on some items.
        var lines = Enumerable.Range(0, 60).Select(u => $"{u + 1} " + string.Join(" ", Enumerable.Range(0, 8).Select(j => 1 + (u + j) % 40)));
        File.WriteAllLines(dir.File("seq.txt"), lines);
        File.WriteAllText(dir.File("attr.json"), "{\"1\": [7], \"2\": [7, 8], \"3\": [9]}");
        var loaded = DatasetLoaders.LoadSequences(dir.File("seq.txt"), dir.File("attr.json"));
        var data = RecDataset.FromInteractions(loaded);
        var config = new VectorRecall.Towers.TowerConfig
        {
            NumUsers = data.UserCount, NumItems = data.ItemCount, Tags = data.Items.TagCount,
            IdDim = 8, BehaviourDim = 8, TagDim = 4, Hidden = [16], EmbeddingDim = 8,
        };
        Assert.Equal(8 + 4, config.ItemInputDim);
        Assert.Equal(8 + 8, config.UserInputDim);
        var model = new VectorRecall.TwoTower.TwoTowerModel(config, new VectorRecall.Numerics.Rng(1));
        Assert.Null(model.Item.Category);
        Assert.Null(model.User.Profile);
        var results = new VectorRecall.TwoTower.TwoTowerTrainer(model, data,
            new VectorRecall.Training.TrainerOptions { Epochs = 2, BatchSize = 16, CheckpointDir = dir.File("ck") }, new VectorRecall.TwoTower.InfoNceOptions { NumNegatives = 2 }).Train();
        Assert.Equal(2, results.Count);
        Assert.True(File.Exists(System.IO.Path.Combine(dir.File("ck"), "best_model.safetensors")));
        var vectors = VectorRecall.Towers.TowerEncoder.EncodeItems(model.Item, data.Items);
        using (var index = VectorRecall.Towers.TowerEncoder.BuildIndex(vectors, "Flat"))
            VectorRecall.Serving.ServingBundle.Save(dir.File("bundle"), model, index, vectors, loaded.ItemIds, data.UserFeatures, data.Train.Concat(data.Validation), data.Train);
        using var service = VectorRecall.Serving.RecallService.FromBundle(dir.File("bundle"));
        var r = service.Recall(3, default, 5);
        Assert.Equal(5, r.ItemIds.Length);
        Assert.All(r.ItemIds, id => Assert.Contains(id, loaded.ItemIds.ToNumbers()));
        Assert.Equal(5, service.Recall(10_000, default, 5).ItemIds.Length);  // an unknown user of an id-only model: no features needed
    }
}
