using System.Text.Json.Nodes;
using VectorRecall.Numerics;
using VectorRecall.SemanticIds;
using VectorRecall.Serving;
using VectorRecall.Tdm;
using VectorRecall.Towers;
using VectorRecall.Training;
using VectorRecall.TwoTower;

namespace VectorRecall.Tests;

/// <summary>
/// The small trained model as a bundle of every kind: its own two-tower bundle, a TDM model over a
/// k-means tree of its item vectors (user tower and node vectors taken from it), and semantic ids of
/// an RQ-VAE over its item vectors, and a sequence encoder trained one epoch on its users. Untrained parts
/// are fine here: the tests compare paths, not quality.
/// </summary>
public sealed class BundleKinds : IDisposable
{
    private readonly TempDir _dir = new();

    public BundleKinds()
    {
        var m = TrainedSmallModel.Shared;
        var tree = TreeBuilder.Build(m.ItemVectors, new TreeBuildOptions { Branch = 4 });
        var tdm = new TdmModel(new TdmConfig { User = m.Config, Nodes = tree.NodeCount, Scorer = NodeScorerKind.InnerProduct }, new Rng(3));
        tree.Embeddings.Span.CopyTo(tdm.Nodes.Weight.Value.Span);
        tdm.User!.LoadStateDict(m.Model.User.StateDict());
        ServingBundle.SaveTdm(Path(BundleKind.Tdm), tdm, tree, 50, m.ItemIds, m.Data.UserFeatures, m.Known, m.Known);

        var rqvae = new RqVae(new RqVaeConfig { InDim = m.ItemVectors.Cols, Layers = [32], EDim = 8, NumEmbList = [8, 8], SkEpsilons = [0f, 0f] }, new Rng(4));
        var (codes, _) = SemanticIdGenerator.Generate(rqvae, m.ItemVectors);
        ServingBundle.SaveSemanticIds(Path(BundleKind.SemanticIds), m.BundlePath, rqvae, codes, 50);

        var encoder = new SequenceEncoder(new SequenceEncoderConfig { NumItems = m.Data.ItemCount, Dim = 16, MaxLength = 20, Blocks = 1 }, new Rng(8));
        var trainer = new SequenceTrainer(encoder, m.Data, new TrainerOptions { Epochs = 1, BatchSize = 64, CheckpointDir = _dir.File("seq-ck") }, negatives: 32);
        trainer.Train();
        var items = trainer.ItemVectors();
        using var index = TowerEncoder.BuildIndex(items, "HNSW16");
        ServingBundle.SaveSequence(Path(BundleKind.Sequence), encoder, index, items, m.ItemIds, m.Known, m.Known);
    }

    public string Path(BundleKind kind) => kind == BundleKind.TwoTower ? TrainedSmallModel.Shared.BundlePath : _dir.File(ServingBundle.KindName(kind));

    public void Dispose() => _dir.Dispose();
}
