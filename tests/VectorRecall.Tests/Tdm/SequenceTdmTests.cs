using VectorRecall.Numerics;
using VectorRecall.Serving;
using VectorRecall.Tdm;
using VectorRecall.Training;

namespace VectorRecall.Tests.Tdm;

/// <summary>A TDM whose user encoder is a sequence bundle's: fitted from it, served from its own bundle.</summary>
public class SequenceTdmTests(BundleKinds bundles) : IClassFixture<BundleKinds>
{
    private static TdmFitOptions Options(TempDir dir, bool trainEncoder = false) => new()
    {
        Trainer = new TrainerOptions { Epochs = 1, BatchSize = 256, CheckpointDir = dir.File("fit"), Seed = 3 },
        Tdm = new TdmOptions { Beam = 40, NegativesPerLevel = [10], Negatives = TdmNegatives.InBatch, TrainUserTower = trainEncoder, TrainLeaves = false },
        Tree = new TreeBuildOptions { Branch = 4 },
        LeafScorer = null,  // the leaves rank as the item vectors do: the bundle's ranking can be checked against exact search
    };

    [Fact]
    public async Task AFitKeepsTheEncoderAndItsBundleRanksAsExactSearchOverTheItemsWould()
    {
        var m = TrainedSmallModel.Shared;
        using var dir = new TempDir();
        var (encoder, items, users) = ServingBundle.LoadSequenceEncoder(bundles.Path(BundleKind.Sequence));
        Assert.Equal(m.Data.UserCount, users);
        var before = encoder.StateDict().ToDictionary(p => p.Key, p => p.Value.Span.ToArray());
        var (model, tree, stages) = TdmFit.Run(m.Data, SequenceUser.From(encoder, items), items, Options(dir), t => t.Train());
        Assert.Equal(["tree_1", "tree_2"], stages.Select(s => s.Name));
        foreach (var (name, value) in model.Sequence!.Encoder.StateDict()) Assert.Equal(before[name], value.Span.ToArray());

        // A beam as wide as the tree searches every leaf, and the leaves are frozen at the item vectors: exact search's ranking.
        ServingBundle.SaveTdm(dir.File("tdm"), model, tree, tree.NodeCount, m.ItemIds, new Tensor(m.Data.UserCount, 0), m.Known, m.Known);
        using (var tdm = RecallService.FromBundle(dir.File("tdm")))
        using (var sequence = RecallService.FromBundle(bundles.Path(BundleKind.Sequence)))
        {
            Assert.Equal(BundleKind.Tdm, tdm.Kind);
            long[] ids = [.. Enumerable.Range(0, 20).Select(u => (long)u)];
            var vectors = tdm.EncodeUsers(ids);
            Assert.Equal(sequence.EncodeUsers(ids).Span.ToArray(), vectors.Span.ToArray());
            for (int r = 0; r < ids.Length; r++)
            {
                var seen = m.Known.Of(r).ToArray().ToHashSet();
                var exact = Enumerable.Range(0, items.Rows).Where(i => !seen.Contains(i)).OrderByDescending(i => Distances.Dot(vectors.Row(r), items.Row(i))).Take(10).Select(i => m.ItemIds[i]);
                Assert.Equal(exact, tdm.Recall(ids[r], [], 10, excludeSeen: true).ItemIds);
            }
        }
        Assert.Contains("sequence encoder", Assert.Throws<ArgumentException>(() => ServingBundle.LoadUserTower(dir.File("tdm"))).Message);

        // A new user is recalled from the items it sends.
        await using var server = await new ServerFixture().StartAsync(o => o with { AdminToken = null }, source: dir.File("tdm"));
        var (status, body) = await server.Call("/v1/recall", $$"""{"user_id": 999999, "history": [{{string.Join(",", m.ItemIds.Take(5))}}], "top_k": 10}""");
        Assert.Equal(200, status);
        Assert.Equal(10, body["item_ids"]!.AsArray().Count);
    }

    [Fact]
    public void TrainingTheSequenceEncoderIsRefusedWithTheReason()
    {
        var m = TrainedSmallModel.Shared;
        using var dir = new TempDir();
        var (encoder, items, _) = ServingBundle.LoadSequenceEncoder(bundles.Path(BundleKind.Sequence));
        var error = Assert.Throws<ArgumentException>(() => TdmFit.Run(m.Data, SequenceUser.From(encoder, items), items, Options(dir, trainEncoder: true), t => t.Train()));
        Assert.Contains("frozen", error.Message);
        Assert.Throws<ArgumentException>(() => ServingBundle.LoadSequenceEncoder(bundles.Path(BundleKind.Tdm)));
    }
}
