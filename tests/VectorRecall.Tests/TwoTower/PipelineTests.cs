using VectorRecall.Data;
using VectorRecall.Indexing;
using VectorRecall.IO;
using VectorRecall.Numerics;
using VectorRecall.Serving;
using VectorRecall.TwoTower;
using VectorRecall.Retrieval;
using VectorRecall.Training;
using VectorRecall.Towers;

namespace VectorRecall.Tests.TwoTower;

public class PipelineTests(TrainedSmallModel m) : IClassFixture<TrainedSmallModel>
{
    [Fact]
    public void TrainingLowersTheLossAndWritesCheckpoints()
    {
        Assert.Equal(3, m.Results.Count);
        Assert.True(m.Results[^1].TrainLoss < m.Results[0].TrainLoss, "train loss falls");
        Assert.True(m.Results.All(r => double.IsFinite(r.ValidationLoss)));
        foreach (var name in new[] { "checkpoint_epoch_1", "checkpoint_epoch_3", "best_model" })
            Assert.True(File.Exists(Path.Combine(m.Trainer.CheckpointDir, name + ".safetensors")), name);
    }

    [Fact]
    public void TrainedModelBeatsPopularityOnTheTestSplit()
    {
        var users = Enumerable.Range(0, m.Data.UserCount).ToList();
        using var service = RecallService.FromBundle(m.BundlePath);
        var vectors = service.EncodeUsers(users.Select(u => (long)u).ToArray());
        using var exact = new IndexRetriever(new FlatIndex(m.ItemVectors.Cols, Metric.InnerProduct));
        exact.Index.Add(Enumerable.Range(0, m.Data.ItemCount).Select(i => (long)i).ToArray(), m.ItemVectors.Span);
        var model = RetrievalEvaluator.Evaluate(exact, vectors, users, m.Data.Test, m.Known, [50]).Metrics;

        var counts = m.Data.Train.ItemCounts(m.Data.ItemCount);
        using var popular = new IndexRetriever(new FlatIndex(1, Metric.InnerProduct));
        popular.Index.Add(Enumerable.Range(0, m.Data.ItemCount).Select(i => (long)i).ToArray(), counts.Select(c => (float)c).ToArray());
        var popularity = RetrievalEvaluator.Evaluate(popular, Tensor.Full(1f, users.Count, 1), users, m.Data.Test, m.Known, [50]).Metrics;

        double ours = model.Get(RankingMetric.Recall, 50), baseline = popularity.Get(RankingMetric.Recall, 50);
        Assert.True(ours > 1.5 * baseline, $"model Recall@50 {ours:F4} should clearly beat popularity's {baseline:F4}");
    }

    [Fact]
    public void BundleRoundTripGivesIdenticalRecall()
    {
        using var a = RecallService.FromBundle(m.BundlePath);
        using var b = RecallService.FromBundle(m.BundlePath);
        for (int user = 0; user < 20; user++)
        {
            var ra = a.Recall(user, default, 50);
            var rb = b.Recall(user, default, 50);
            Assert.Equal(ra.ItemIds, rb.ItemIds);
            Assert.Equal(ra.Scores, rb.Scores);
            Assert.True(ra.LatencyMs >= 0);
        }
        // And the bundle's results are the in-memory model's: same user vector, same index search.
        var vector = TowerEncoder.EncodeUsers(m.Model.User, UserBatch.Gather([3], m.Data.UserFeatures, m.Known, m.Config.HistoryLength));
        Assert.Equal(vector.ToArray(), a.EncodeUsers([3]).ToArray());
        var ids = new long[50]; var scores = new float[50];
        a.Index!.Search(vector.Row(0), 50, ids, scores);
        Assert.Equal(ids.Select(i => m.ItemIds[i]).ToArray(), a.Recall(3, default, 50).ItemIds);
    }

    [Fact]
    public void BatchRecallMatchesSingleRecallAndExcludesSeenItems()
    {
        using var s = RecallService.FromBundle(m.BundlePath);
        var batch = s.BatchRecall([1, 2, 3], null, 30, excludeSeen: true);
        for (int i = 0; i < 3; i++)
        {
            var single = s.Recall(i + 1, default, 30, excludeSeen: true);
            Assert.Equal(single.ItemIds, batch[i].ItemIds);
            var seen = m.Known.Of(i + 1).ToArray().Select(x => 1000L + x).ToHashSet();
            Assert.DoesNotContain(batch[i].ItemIds, id => seen.Contains(id));
            Assert.Equal(30, batch[i].ItemIds.Length);
        }
    }

    [Fact]
    public void RecallIsSafeFromManyThreads()
    {
        using var s = RecallService.FromBundle(m.BundlePath);
        var expected = Enumerable.Range(0, 40).Select(u => s.Recall(u, default, 20).ItemIds).ToArray();
        Parallel.For(0, 400, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
            Assert.Equal(expected[i % 40], s.Recall(i % 40, default, 20).ItemIds));
    }

    [Fact]
    public void BadRequestsGetClearErrors()
    {
        using var s = RecallService.FromBundle(m.BundlePath);
        Assert.Contains("top-k", Assert.Throws<ArgumentOutOfRangeException>(() => s.Recall(1, default, 0)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => s.Recall(1, default, s.ItemCount + 1));
        Assert.Contains("profile features", Assert.Throws<ArgumentException>(() => s.Recall(999_999, default, 10)).Message);
        Assert.Contains("3 features given, the model takes", Assert.Throws<ArgumentException>(() => s.Recall(1, new float[3], 10)).Message);
        var nan = new float[s.FeatureCount];
        nan[0] = float.NaN;
        Assert.Throws<ArgumentException>(() => s.Recall(1, nan, 10));
        // An unknown user with features is recalled from its features alone.
        var features = m.Data.UserFeatures.Row(5).ToArray();
        var r = s.Recall(999_999, features, 10);
        Assert.Equal(10, r.ItemIds.Length);
    }

    [Fact]
    public void DamagedOrMismatchedBundlesAreRefused()
    {
        using var dir = new TempDir();
        string copy = dir.File("bundle");
        CopyDir(m.BundlePath, copy);
        // A flipped byte in the index: the manifest's checksum catches it.
        string index = Path.Combine(copy, "items.vrix");
        var bytes = File.ReadAllBytes(index);
        bytes[bytes.Length / 2] ^= 0x40;
        File.WriteAllBytes(index, bytes);
        Assert.Contains("checksum", Assert.Throws<FileFormatException>(() => RecallService.FromBundle(copy)).Message);

        // A user tower from a model of another shape, with a manifest rewritten to match its bytes.
        CopyDir(m.BundlePath, copy);
        var other = new TwoTowerModel(TrainedSmallModel.ConfigFor(m.Data, embeddingDim: 16), new Rng(2));
        string other_dir = dir.File("other");
        var otherVectors = TowerEncoder.EncodeItems(other.Item, m.Data.Items);
        using (var otherIndex = TowerEncoder.BuildIndex(otherVectors, "Flat"))
            ServingBundle.Save(other_dir, other, otherIndex, otherVectors, m.ItemIds, m.Data.UserFeatures, m.Known, m.Known);
        File.Copy(Path.Combine(other_dir, "user_tower.safetensors"), Path.Combine(copy, "user_tower.safetensors"), overwrite: true);
        var manifest = File.ReadAllText(Path.Combine(other_dir, "manifest.json"));
        var mine = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(copy, "manifest.json")))!;
        var theirs = System.Text.Json.Nodes.JsonNode.Parse(manifest)!;
        mine["files"]!["user_tower.safetensors"] = theirs["files"]!["user_tower.safetensors"]!.DeepClone();
        File.WriteAllText(Path.Combine(copy, "manifest.json"), mine.ToJsonString());
        Assert.Contains("different model shape", Assert.Throws<FileFormatException>(() => RecallService.FromBundle(copy)).Message);

        Assert.Throws<DirectoryNotFoundException>(() => RecallService.FromBundle(dir.File("missing")));
        Directory.CreateDirectory(dir.File("empty"));
        Assert.Contains("not a serving bundle", Assert.Throws<FileFormatException>(() => RecallService.FromBundle(dir.File("empty"))).Message);
    }

    [Fact]
    public void CheckpointsRefuseOtherShapesAndDamage()
    {
        string best = Path.Combine(m.Trainer.CheckpointDir, "best_model.safetensors");
        var other = new TwoTowerModel(TrainedSmallModel.ConfigFor(m.Data, embeddingDim: 16), new Rng(2));
        Assert.Contains("different model shape", Assert.Throws<FileFormatException>(() => TwoTowerCheckpoint.Load(best, other)).Message);
        using var dir = new TempDir();
        var bytes = File.ReadAllBytes(best);
        File.WriteAllBytes(dir.File("cut.safetensors"), bytes[..(bytes.Length / 2)]);
        var same = new TwoTowerModel(m.Config, new Rng(2));
        Assert.Throws<FileFormatException>(() => TwoTowerCheckpoint.Load(dir.File("cut.safetensors"), same));
        Assert.Throws<FileNotFoundException>(() => TwoTowerCheckpoint.Load(dir.File("missing.safetensors"), same));
        // The intact one loads and gives the trained weights back.
        TwoTowerCheckpoint.Load(best, same);
        Assert.Equal(m.Model.User.Profile!.Weight.Value.ToArray(), same.User.Profile!.Weight.Value.ToArray());
    }

    [Fact]
    public void SelectionByRecallKeepsTheEpochWithTheHighestValidationRecall()
    {
        var (data, config) = RandomInteractions();
        using var dir = new TempDir();
        var options = new TrainerOptions { Epochs = 4, BatchSize = 64, LearningRate = 0.05, SelectBy = ModelSelection.Recall, CheckpointDir = dir.File("ck"), Seed = 3 };
        var trainer = new TwoTowerTrainer(new TwoTowerModel(config, new Rng(1)), data, options);
        var results = trainer.Train();
        Assert.All(results, r => Assert.InRange(r.ValidationRecall, 0, 1));
        double max = results.Max(r => r.ValidationRecall);
        Assert.Equal(results.First(r => r.ValidationRecall == max).Epoch, trainer.BestEpoch);
        Assert.Equal(max, trainer.BestValidationRecall);
        Assert.Equal(trainer.BestEpoch, TwoTowerCheckpoint.Load(Path.Combine(dir.File("ck"), "best_model.safetensors"), new TwoTowerModel(config, new Rng(2))).BestEpoch);
    }

    /// <summary>Random interactions: whatever a model memorises of train says nothing about validation.</summary>
    private static (RecDataset Data, TowerConfig Config) RandomInteractions()
    {
        var rng = new Rng(11);
        List<int> Random(int n) => Enumerable.Range(0, n).Select(_ => rng.NextInt(300)).Distinct().ToList();
        var train = Enumerable.Range(0, 100).Select(_ => (IReadOnlyList<int>)Random(12)).ToList();
        var validation = Enumerable.Range(0, 100).Select(_ => (IReadOnlyList<int>)Random(2)).ToList();
        var empty = Enumerable.Range(0, 100).Select(_ => (IReadOnlyList<int>)[]).ToList();
        var data = new RecDataset(ItemCatalog.IdOnly(300), new Tensor(100, 0), UserItemLists.FromLists(train), UserItemLists.FromLists(validation), UserItemLists.FromLists(empty));
        return (data, new TowerConfig { NumUsers = 100, NumItems = 300, Hidden = [], EmbeddingDim = 16, IdDim = 16, BehaviourDim = 16, Dropout = 0 });
    }

    [Fact]
    public void PatienceStopsWhenValidationStopsImprovingAndTheBestEpochIsRestored()
    {
        // The validation loss rises once memorising starts.
        var (data, config) = RandomInteractions();
        using var dir = new TempDir();
        var options = new TrainerOptions { Epochs = 30, BatchSize = 64, LearningRate = 0.05, Patience = 2, CheckpointDir = dir.File("ck"), Seed = 3 };
        var model = new TwoTowerModel(config, new Rng(1));
        var trainer = new TwoTowerTrainer(model, data, options);
        var results = trainer.Train();
        Assert.True(trainer.StoppedEarly, "the validation loss should rise on random data");
        Assert.Equal(trainer.BestEpoch + 2, results[^1].Epoch);
        Assert.Equal(results.Min(r => r.ValidationLoss), results[trainer.BestEpoch - 1].ValidationLoss);
        Assert.Equal(trainer.BestEpoch, trainer.RestoreBest());
        var best = new TwoTowerModel(config, new Rng(2));
        Assert.Equal(trainer.BestEpoch, TwoTowerCheckpoint.Load(Path.Combine(dir.File("ck"), "best_model.safetensors"), best).BestEpoch);
        Assert.Equal(best.User.Id.Weight.Value.ToArray(), model.User.Id.Weight.Value.ToArray());
    }

    [Fact]
    public void ResumeContinuesFromTheLatestCheckpoint()
    {
        using var dir = new TempDir();
        var options = m.Trainer with { Epochs = 1, CheckpointDir = dir.File("ck") };
        new TwoTowerTrainer(new TwoTowerModel(m.Config, new Rng(1)), m.Data, options).Train();
        var resumed = new TwoTowerTrainer(new TwoTowerModel(m.Config, new Rng(99)), m.Data, options with { Epochs = 2, Resume = true });
        var results = resumed.Train();
        Assert.Equal(2, Assert.Single(results).Epoch);
        Assert.True(File.Exists(Path.Combine(dir.File("ck"), "checkpoint_epoch_2.safetensors")));
        var fresh = new TwoTowerTrainer(new TwoTowerModel(m.Config, new Rng(1)), m.Data, options with { CheckpointDir = dir.File("none"), Resume = true });
        Assert.Throws<FileNotFoundException>(() => fresh.Train());
    }

    [Fact]
    public void CancellingSavesAnInterruptedCheckpoint()
    {
        using var dir = new TempDir();
        using var cts = new CancellationTokenSource();
        var trainer = new TwoTowerTrainer(new TwoTowerModel(m.Config, new Rng(1)), m.Data, m.Trainer with { CheckpointDir = dir.File("ck") });
        trainer.StepCompleted = s => { if (s.Step == 3) cts.Cancel(); };
        Assert.ThrowsAny<OperationCanceledException>(() => trainer.Train(cts.Token));
        string path = Path.Combine(dir.File("ck"), "checkpoint_interrupted.safetensors");
        Assert.True(File.Exists(path));
        var info = TwoTowerCheckpoint.Load(path, new TwoTowerModel(m.Config, new Rng(3)));
        Assert.Equal(3, info.GlobalStep);
        Assert.Empty(Directory.GetFiles(dir.File("ck"), "*.tmp*"));
    }

    private static void CopyDir(string from, string to)
    {
        if (Directory.Exists(to)) Directory.Delete(to, recursive: true);
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
    }
}
