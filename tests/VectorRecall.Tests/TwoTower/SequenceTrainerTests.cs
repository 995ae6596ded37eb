using VectorRecall.Data;
using VectorRecall.Numerics;
using VectorRecall.Retrieval;
using VectorRecall.Serving;
using VectorRecall.Towers;
using VectorRecall.Training;
using VectorRecall.TwoTower;

namespace VectorRecall.Tests.TwoTower;

public class SequenceTrainerTests
{
    /// <summary>80 users walking 30 items in order from different starts: the next item is always the one after the last.</summary>
    private static RecDataset Walks(TempDir dir)
    {
        var lines = Enumerable.Range(0, 80).Select(u => $"{u + 1} " + string.Join(" ", Enumerable.Range(0, 9).Select(j => 1 + (u * 3 + j) % 30)));
        File.WriteAllLines(dir.File("seq.txt"), lines);
        return RecDataset.FromInteractions(DatasetLoaders.Load("sequences", dir.File("seq.txt")));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(16)]
    public void LearnsWhatComesNextWithAFullOrASampledSoftmax(int negatives)
    {
        using var dir = new TempDir();
        var data = Walks(dir);
        var encoder = new SequenceEncoder(new SequenceEncoderConfig { NumItems = data.ItemCount, Dim = 32, MaxLength = 10, Blocks = 1, Heads = 1, Dropout = 0f }, new Rng(3));
        var options = new TrainerOptions { Epochs = 40, BatchSize = 16, LearningRate = 1e-2, WeightDecay = 0, CheckpointDir = dir.File("ck") };
        var trainer = new SequenceTrainer(encoder, data, options, negatives);
        var results = trainer.Train();
        Assert.True(results[^1].TrainLoss < results[0].TrainLoss, $"loss {results[0].TrainLoss} → {results[^1].TrainLoss}");
        trainer.RestoreBest();
        var known = data.Train.Concat(data.Validation);
        var users = Enumerable.Range(0, data.UserCount).ToArray();
        double hr = trainer.Evaluate(known, data.Test, known, users, [1]).Metrics.Get(RankingMetric.Hit, 1);
        Assert.True(hr > 0.9, $"HR@1 {hr:F3}: the next item of a walk should be found first");

        // The checkpoint holds the encoder: a fresh one loaded from best_model ranks the same.
        var fresh = new SequenceEncoder(encoder.Config, new Rng(9));
        var again = new SequenceTrainer(fresh, data, options with { Resume = true }, negatives);
        again.ResumeFromLatest();
        Assert.Equal(trainer.CompletedEpochs, again.CompletedEpochs);
    }

    [Fact]
    public void RefusesAnEncoderForOtherItemsAndNegativeNegatives()
    {
        using var dir = new TempDir();
        var data = Walks(dir);
        var options = new TrainerOptions { CheckpointDir = dir.File("ck") };
        Assert.Throws<ArgumentException>(() => new SequenceTrainer(new SequenceEncoder(new SequenceEncoderConfig { NumItems = 5, Dim = 8 }, new Rng(1)), data, options));
        Assert.Equal("Negatives", Assert.Throws<SettingException>(() =>
            new SequenceTrainer(new SequenceEncoder(new SequenceEncoderConfig { NumItems = data.ItemCount, Dim = 8 }, new Rng(1)), data, options, -1)).Property);
    }

    /// <summary>The walks with each item tagged by two attributes: its id mod 4 and mod 7.</summary>
    private static RecDataset WalksWithAttributes(TempDir dir)
    {
        var data = Walks(dir);
        var tags = UserItemLists.FromLists([.. Enumerable.Range(0, data.ItemCount).Select(i => (IReadOnlyList<int>)[i % 4, 4 + i % 7])]);
        return new RecDataset(ItemCatalog.IdOnly(data.ItemCount, tags, 11), data.UserFeatures, data.Train, data.Validation, data.Test);
    }

    [Fact]
    public void ItemAttributesAddTheirMeanToTheItemVectorAndAreServedFromTheBundle()
    {
        using var dir = new TempDir();
        var data = WalksWithAttributes(dir);
        var config = new SequenceEncoderConfig { NumItems = data.ItemCount, Dim = 16, MaxLength = 10, Blocks = 1, Dropout = 0f, Attributes = 11 };
        var encoder = new SequenceEncoder(config, new Rng(3), data.Items);
        var trainer = new SequenceTrainer(encoder, data, new TrainerOptions { Epochs = 30, BatchSize = 16, LearningRate = 1e-2, WeightDecay = 0, CheckpointDir = dir.File("ck") }, 8);
        trainer.Train();
        var known = data.Train.Concat(data.Validation);
        var users = Enumerable.Range(0, data.UserCount).ToArray();
        Assert.True(trainer.Evaluate(known, data.Test, known, users, [1]).Metrics.Get(RankingMetric.Hit, 1) > 0.9);

        // Item 9's vector: its id's row (token 10) plus the mean of attributes 1 and 4 + 2.
        var vectors = encoder.ItemVectors();
        var attributes = encoder.AttributeTable!.Weight.Value;
        for (int c = 0; c < 16; c++)
            Assert.Equal(encoder.Items.Weight.Value[10, c] + (attributes[1, c] + attributes[6, c]) / 2, vectors[9, c], 5);

        // Served from a bundle (whose encoder has no catalogue): the same user vectors as the trainer's.
        using var index = TowerEncoder.BuildIndex(vectors, "Flat");
        ServingBundle.SaveSequence(dir.File("b"), encoder, index, vectors, TowerEncoder.SequentialIds(data.ItemCount), known, known);
        using var service = RecallService.FromBundle(dir.File("b"));
        var served = service.EncodeUsers([.. users.Select(u => (long)u)]);
        var expected = trainer.EncodeUsers(known, users);
        for (int u = 0; u < users.Length; u++)
            for (int c = 0; c < 16; c++) Assert.Equal(expected[u, c], served[u, c], 1e-4);
    }

    [Fact]
    public void AnEncoderThatReadsAttributesNeedsAMatchingCatalogue()
    {
        using var dir = new TempDir();
        var data = WalksWithAttributes(dir);
        var config = new SequenceEncoderConfig { NumItems = data.ItemCount, Dim = 8, Attributes = 11 };
        Assert.Contains("catalogue", Assert.Throws<InvalidOperationException>(() => new SequenceEncoder(config, new Rng(1)).ItemVectors()).Message);
        Assert.Throws<ArgumentException>(() => new SequenceEncoder(config with { Attributes = 12 }, new Rng(1), data.Items));
        Assert.Equal("Attributes", Assert.Throws<SettingException>(() => new SequenceEncoder(config with { Attributes = -1 }, new Rng(1))).Property);
    }
}
