using VectorRecall.Indexing;
using VectorRecall.Data;
using VectorRecall.IO;
using VectorRecall.Numerics;
using VectorRecall.Tdm;
using VectorRecall.TwoTower;
using VectorRecall.Retrieval;
using VectorRecall.Training;
using VectorRecall.Towers;

namespace VectorRecall.Tests;

public class TreeBuilderTests
{
    private static Tensor Points(int n, int dim, ulong seed) => Tensor.Randn(new Rng(seed), 1f, n, dim);

    /// <summary>Items under each node, counted from the leaves up.</summary>
    private static int[] SubtreeSizes(ItemTree tree)
    {
        var size = new int[tree.NodeCount];
        for (int item = 0; item < tree.ItemCount; item++)
            for (int node = tree.LeafOf(item); node >= 0; node = tree.Parent(node)) size[node]++;
        return size;
    }

    [Theory]
    [InlineData(TreeBuildMode.KMeans, 2, 1000)]
    [InlineData(TreeBuildMode.KMeans, 2, 777)]
    [InlineData(TreeBuildMode.KMeans, 3, 500)]
    [InlineData(TreeBuildMode.Random, 2, 333)]
    [InlineData(TreeBuildMode.Category, 4, 250)]
    public void EveryItemIsOneLeafOnTheLastLevelAndSiblingsDifferByAtMostOne(TreeBuildMode mode, int branch, int n)
    {
        var categories = Enumerable.Range(0, n).Select(i => (i * 7) % 5).ToArray();
        var tree = TreeBuilder.Build(Points(n, 8, 1), new TreeBuildOptions { Mode = mode, Branch = branch }, categories);
        Assert.Equal(n, tree.ItemCount);
        Assert.Equal(ItemTree.DepthFor(n, branch), tree.Depth);
        var leaves = Enumerable.Range(0, n).Select(tree.LeafOf).ToArray();
        Assert.Equal(n, leaves.Distinct().Count());
        Assert.All(leaves, leaf => Assert.True(leaf >= tree.LevelStart(tree.Depth)));
        Assert.All(Enumerable.Range(0, n), item => Assert.Equal(item, tree.LeafItem(tree.LeafOf(item))));
        var size = SubtreeSizes(tree);
        for (int node = 0; node < tree.LevelStart(tree.Depth); node++)
        {
            var children = Enumerable.Range(tree.ChildStart(node), tree.ChildCount(node)).Select(c => size[c]).ToArray();
            if (size[node] >= branch) Assert.Equal(branch, children.Length);
            Assert.True(children.Max() - children.Min() <= 1, $"node {tree.Codes[node]}: children hold {string.Join(", ", children)} items");
            for (int c = tree.ChildStart(node); c < tree.ChildStart(node) + tree.ChildCount(node); c++)
            {
                Assert.Equal(node, tree.Parent(c));
                Assert.Equal(tree.Codes[node] * branch + 1 + (c - tree.ChildStart(node)), tree.Codes[c]);
            }
        }
    }

    [Fact]
    public void NodeEmbeddingsAreTheMeansOfTheirChildren()
    {
        var items = Points(100, 4, 2);
        var tree = TreeBuilder.Build(items, new TreeBuildOptions());
        for (int item = 0; item < 100; item++) Assert.Equal(items.Row(item).ToArray(), tree.Embeddings.Row(tree.LeafOf(item)).ToArray());
        for (int node = 0; node < tree.LevelStart(tree.Depth); node++)
        {
            var mean = new float[4];
            for (int c = tree.ChildStart(node); c < tree.ChildStart(node) + tree.ChildCount(node); c++)
                for (int j = 0; j < 4; j++) mean[j] += tree.Embeddings[c, j] / tree.ChildCount(node);
            for (int j = 0; j < 4; j++) Assert.Equal(mean[j], tree.Embeddings[node, j], 4);
        }
    }

    [Fact]
    public void KMeansSplitsSeparateClusters()
    {
        // Two far-apart blobs of 64 items: the root's two subtrees must be exactly the blobs.
        var items = Points(128, 4, 3);
        for (int i = 64; i < 128; i++) items[i, 0] += 100;
        var tree = TreeBuilder.Build(items, new TreeBuildOptions());
        int Side(int item) { int node = tree.LeafOf(item); while (tree.Parent(node) != 0) node = tree.Parent(node); return node; }
        Assert.Single(Enumerable.Range(0, 64).Select(Side).Distinct());
        Assert.Single(Enumerable.Range(64, 64).Select(Side).Distinct());
        Assert.NotEqual(Side(0), Side(64));
    }

    [Fact]
    public void CategoryModeKeepsACategoryTogether()
    {
        var categories = Enumerable.Range(0, 64).Select(i => i % 4).ToArray();
        var tree = TreeBuilder.Build(Points(64, 4, 4), new TreeBuildOptions { Mode = TreeBuildMode.Category }, categories);
        // 16 items per category in a tree of 64 leaves: each category fills one level-2 subtree.
        for (int c = 0; c < 4; c++)
        {
            var ancestors = Enumerable.Range(0, 64).Where(i => categories[i] == c).Select(i =>
            {
                int node = tree.LeafOf(i);
                while (node >= tree.LevelStart(3)) node = tree.Parent(node);
                return node;
            }).Distinct();
            Assert.Single(ancestors);
        }
    }

    [Fact]
    public void SavedTreeReadsBackAndCorruptionIsRefused()
    {
        using var dir = new TempDir();
        var tree = TreeBuilder.Build(Points(300, 6, 5), new TreeBuildOptions { Branch = 3 });
        string path = dir.File("tree.bin");
        tree.Save(path);
        var back = ItemTree.Load(path);
        Assert.Equal(tree.Codes, back.Codes);
        Assert.Equal(tree.Embeddings.ToArray(), back.Embeddings.ToArray());
        Assert.Equal(Enumerable.Range(0, 300).Select(tree.LeafOf), Enumerable.Range(0, 300).Select(back.LeafOf));

        var bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 0x5A;
        File.WriteAllBytes(dir.File("flipped.bin"), bytes);
        Assert.Throws<FileFormatException>(() => ItemTree.Load(dir.File("flipped.bin")));
        File.WriteAllBytes(dir.File("cut.bin"), bytes[..(bytes.Length / 3)]);
        Assert.Throws<FileFormatException>(() => ItemTree.Load(dir.File("cut.bin")));
        File.WriteAllText(dir.File("text.bin"), "not a tree");
        Assert.Contains("text.bin", Assert.Throws<FileFormatException>(() => ItemTree.Load(dir.File("text.bin"))).Message);
    }

    [Fact]
    public void BadInputIsRefusedWithAReason()
    {
        var nan = Points(10, 3, 6);
        nan[4, 1] = float.NaN;
        Assert.Contains("item 4", Assert.Throws<ArgumentException>(() => TreeBuilder.Build(nan, new TreeBuildOptions())).Message);
        Assert.Throws<ArgumentException>(() => TreeBuilder.Build(Points(1, 3, 6), new TreeBuildOptions()));
        Assert.Equal("Branch", Assert.Throws<SettingException>(() => TreeBuilder.Build(Points(10, 3, 6), new TreeBuildOptions { Branch = 1 })).Property);
        Assert.Contains("category", Assert.Throws<ArgumentException>(() => TreeBuilder.Build(Points(10, 3, 6), new TreeBuildOptions { Mode = TreeBuildMode.Category }, [1, 2])).Message);
    }

    [Fact]
    public void KMeansFindsSeparatedCentroids()
    {
        var points = Points(300, 2, 7);
        for (int i = 0; i < 300; i++) { points[i, 0] += (i % 3) * 50; points[i, 1] -= (i % 3) * 50; }
        var fit = KMeans.Fit(points, 3, 50, new Rng(1));
        for (int i = 3; i < 300; i++) Assert.Equal(fit.Assignment[i % 3], fit.Assignment[i]);
        Assert.Equal(3, fit.Assignment.Distinct().Count());
    }
}

public class BeamSearchTests
{
    /// <summary>Scores a node by the best item score below it: the max-heap property that makes beam search exact.</summary>
    private sealed class OracleScorer(ItemTree tree, float[] itemScores) : INodeScorer
    {
        private readonly float[] _best = Best(tree, itemScores);

        private static float[] Best(ItemTree tree, float[] itemScores)
        {
            var best = new float[tree.NodeCount];
            Array.Fill(best, float.NegativeInfinity);
            for (int item = 0; item < tree.ItemCount; item++)
                for (int node = tree.LeafOf(item); node >= 0; node = tree.Parent(node)) best[node] = Math.Max(best[node], itemScores[item]);
            return best;
        }

        public void Score(ReadOnlySpan<float> query, ReadOnlySpan<int> nodes, Span<float> scores)
        {
            for (int i = 0; i < nodes.Length; i++) scores[i] = _best[nodes[i]];
        }
    }

    [Theory]
    [InlineData(2, 10, 10)]
    [InlineData(2, 20, 64)]
    [InlineData(3, 5, 40)]
    public void WithAnOracleScorerBeamSearchIsExact(int branch, int k, int beam)
    {
        var rng = new Rng(11);
        var tree = TreeBuilder.Build(Tensor.Randn(rng, 1f, 700, 4), new TreeBuildOptions { Branch = branch });
        for (int trial = 0; trial < 5; trial++)
        {
            var itemScores = new float[700];
            rng.FillNormal(itemScores, 0, 1);
            var exclude = Enumerable.Range(0, 30).Select(_ => rng.NextInt(700)).Distinct().ToArray();
            var ids = new long[k];
            var scores = new float[k];
            var filter = new ExcludedIds();
            foreach (int e in exclude) filter.Add(e);
            int n = BeamSearch.Search(tree, new OracleScorer(tree, itemScores), [0f], k, beam, ids, scores, filter);
            var masked = (float[])itemScores.Clone();
            foreach (int e in exclude) masked[e] = float.NaN;
            var expected = TopK.SelectReference(masked, k);
            Assert.Equal(k, n);
            Assert.Equal(expected.Select(e => e.Id), ids);
            Assert.Equal(expected.Select(e => e.Score), scores);
        }
    }

    [Fact]
    public void ABeamNarrowerThanKIsRefused()
    {
        var tree = TreeBuilder.Build(Tensor.Randn(new Rng(1), 1f, 50, 3), new TreeBuildOptions());
        var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            BeamSearch.Search(tree, new OracleScorer(tree, new float[50]), [0f], 10, 5, new long[10], new float[10]));
        Assert.Contains("beam", e.Message);
    }

    [Fact]
    public void ABeamWiderThanTheTreeScoresEveryLeaf()
    {
        var tree = TreeBuilder.Build(Tensor.Randn(new Rng(1), 1f, 20, 3), new TreeBuildOptions());
        var itemScores = Enumerable.Range(0, 20).Select(i => (float)i).ToArray();
        var ids = new long[5];
        Assert.Equal(5, BeamSearch.Search(tree, new OracleScorer(tree, itemScores), [0f], 5, 100, ids, new float[5]));
        Assert.Equal([19L, 18, 17, 16, 15], ids);
    }
}

public class LayerwiseSamplerTests
{
    [Fact]
    public void NegativesNeverIncludeThePositiveAndStayOnTheirLevel()
    {
        var tree = TreeBuilder.Build(Tensor.Randn(new Rng(2), 1f, 300, 3), new TreeBuildOptions());
        var sampler = new LayerwiseSampler(tree, [5]);
        int w = sampler.Width, levels = sampler.Levels;
        Assert.Equal(6, w);
        var candidates = new int[levels * w];
        var shift = new float[levels * w];
        var rng = new Rng(3);
        for (int item = 0; item < 300; item++)
        {
            sampler.Fill(item, candidates, shift, rng);
            int node = tree.LeafOf(item);
            for (int level = tree.Depth; level >= 1; level--, node = tree.Parent(node))
            {
                var row = candidates.AsSpan((level - 1) * w, w);
                var mask = shift.AsSpan((level - 1) * w, w);
                Assert.Equal(node, row[0]);
                Assert.Equal(0f, mask[0]);
                int real = Math.Min(5, tree.LevelSize(level) - 1);
                for (int j = 1; j < w; j++)
                {
                    if (j <= real)
                    {
                        Assert.NotEqual(node, row[j]);
                        Assert.InRange(row[j], tree.LevelStart(level), tree.LevelStart(level) + tree.LevelSize(level) - 1);
                        Assert.Equal(0f, mask[j]);
                    }
                    else Assert.Equal(InfoNceLoss.MaskedLogit, mask[j]);
                }
                if (tree.LevelSize(level) - 1 <= 5) Assert.Equal(real, row[1..(1 + real)].ToArray().Distinct().Count());
            }
        }
    }

    [Fact]
    public void PerLevelCountsMustMatchTheDepth()
    {
        var tree = TreeBuilder.Build(Tensor.Randn(new Rng(2), 1f, 64, 3), new TreeBuildOptions());
        Assert.Contains("per level", Assert.Throws<ArgumentException>(() => new LayerwiseSampler(tree, [1, 2, 3])).Message);
        Assert.Equal(1 + 7, new LayerwiseSampler(tree, [1, 1, 2, 3, 5, 7]).Width);
    }
}

public class TdmTrainingTests(TrainedSmallModel fixture) : IClassFixture<TrainedSmallModel>
{
    private (TdmModel Model, ItemTree Tree) NewModel(NodeScorerKind scorer)
    {
        var tree = TreeBuilder.Build(fixture.ItemVectors, new TreeBuildOptions());
        var config = new TdmConfig { User = fixture.Config, Nodes = tree.NodeCount, Scorer = scorer, MlpHidden = [32, 16] };
        var model = new TdmModel(config, new Rng(4));
        tree.Embeddings.Span.CopyTo(model.Nodes.Weight.Value.Span);
        return (model, tree);
    }

    private double Recall20(TdmModel model, ItemTree tree)
    {
        var data = fixture.Data;
        var users = Enumerable.Range(0, data.UserCount).Where(u => data.Test.CountOf(u) > 0).ToArray();
        var retriever = TdmRetriever.Create(model, tree, beam: 40);
        var queries = TdmRetriever.EncodeUsers(model, data, users, fixture.Known);
        return RetrievalEvaluator.Evaluate(retriever, queries, users, data.Test, fixture.Known, [20]).Metrics.Get(RankingMetric.Recall, 20);
    }

    private double PopularityRecall20()
    {
        var data = fixture.Data;
        var users = Enumerable.Range(0, data.UserCount).Where(u => data.Test.CountOf(u) > 0).ToArray();
        var (queries, items) = PopularityBaseline.Vectors(data.Train, data.ItemCount, users.Length);
        using var flat = new IndexRetriever(TowerEncoder.BuildIndex(items, "Flat"));
        return RetrievalEvaluator.Evaluate(flat, queries, users, data.Test, fixture.Known, [20]).Metrics.Get(RankingMetric.Recall, 20);
    }

    [Theory]
    [InlineData(NodeScorerKind.InnerProduct, TdmLoss.Softmax)]
    [InlineData(NodeScorerKind.Mlp, TdmLoss.Softmax)]
    [InlineData(NodeScorerKind.InnerProduct, TdmLoss.BinaryCrossEntropy)]
    public void TrainedTreeModelBeatsPopularity(NodeScorerKind scorer, TdmLoss loss)
    {
        using var dir = new TempDir();
        var (model, tree) = NewModel(scorer);
        var options = new TrainerOptions { Epochs = 3, BatchSize = 128, LearningRate = 1e-2, CheckpointDir = dir.File("ck"), Seed = 6 };
        var trainer = new TdmTrainer(model, tree, fixture.Data, options, new TdmOptions { Loss = loss, Beam = 40 });
        var results = trainer.Train();
        Assert.True(results[^1].TrainLoss < results[0].TrainLoss, $"loss {results[0].TrainLoss} → {results[^1].TrainLoss}");
        double tdm = Recall20(model, tree), popularity = PopularityRecall20();
        Assert.True(tdm > popularity, $"TDM Recall@20 {tdm:F4} is not above popularity {popularity:F4}");

        // The checkpoint holds the tree: loading it alone reproduces the model's ranking.
        var (loaded, loadedTree, info) = TdmCheckpoint.Load(trainer.CheckpointPath("checkpoint_epoch_3"));
        Assert.Equal(3, info.CompletedEpochs);
        Assert.Equal(tree.Codes, loadedTree.Codes);
        Assert.Equal(tdm, Recall20(loaded, loadedTree), 6);
        Assert.Equal(model.Nodes.Weight.Value.Row(tree.LeafOf(5)).ToArray(), loadedTree.LeafEmbeddings(loaded.Nodes.Weight.Value).Row(5).ToArray());
    }

    [Theory]
    [InlineData(NodeScorerKind.InnerProduct)]
    [InlineData(NodeScorerKind.Mlp)]
    public void SearchScoresAgreeWithTrainingLogits(NodeScorerKind scorer)
    {
        var (model, tree) = NewModel(scorer);
        var rng = new Rng(9);
        var user = Tensor.Randn(rng, 1f, 1, fixture.Config.EmbeddingDim);
        int[] nodes = [0, 3, 17, tree.NodeCount - 1, 42];
        var logits = Autograd.Tape.NoGrad(() => model.Logits(new Autograd.Variable(user), nodes).Value);
        var scores = new float[nodes.Length];
        model.Score(user.Span, nodes, scores);
        float scale = scorer == NodeScorerKind.InnerProduct ? 1f / model.Config.Temperature : 1f;
        for (int i = 0; i < nodes.Length; i++) Assert.Equal(logits[0, i], scale * scores[i], 3);
        if (scorer == NodeScorerKind.Mlp)
        {
            // The MLP starts as the inner product plus a small learned correction.
            float ip = Distances.Dot(user.Span, model.Nodes.Weight.Value.Row(3)) / model.Config.Temperature;
            Assert.True(Math.Abs(scores[1] - ip) < 0.5f * Math.Abs(ip) + 1f, $"{scores[1]} vs {ip}");
        }
    }

    [Fact]
    public void MismatchedTreesAndCheckpointsAreRefused()
    {
        using var dir = new TempDir();
        var (model, _) = NewModel(NodeScorerKind.InnerProduct);
        var small = TreeBuilder.Build(Tensor.Randn(new Rng(1), 1f, 50, fixture.Config.EmbeddingDim), new TreeBuildOptions());
        var options = new TrainerOptions { Epochs = 1, BatchSize = 128, CheckpointDir = dir.File("ck") };
        Assert.Contains("items", Assert.Throws<ArgumentException>(() => new TdmTrainer(model, small, fixture.Data, options, new TdmOptions())).Message);
        // A two-tower checkpoint is not a TDM checkpoint.
        var twoTower = Directory.GetFiles(Path.GetDirectoryName(fixture.Trainer.CheckpointDir + "/x")!, "*.safetensors")[0];
        Assert.Contains("not a TDM checkpoint", Assert.Throws<FileFormatException>(() => TdmCheckpoint.Load(twoTower)).Message);
    }
}

[Collection(ConsoleCollection.Name)]
public class TdmCommandTests
{
    private static int Vrecall(params string[] args) => VectorRecall.Cli.Program.Main(args);

    [Fact]
    public void TheFiveStepWorkflowRunsAndEvaluatesBothTrees()
    {
        using var dir = new TempDir();
        var data = SmallSequenceBundle.Train(dir);
        // 1. tree from the two-tower's item vectors; 2. train; 3. leaves out; 4. second tree; 5. train again.
        Assert.Equal(0, Vrecall("tdm", "build-tree", "--mode", "by_kmeans", "--input", Path.Combine(dir.File("b"), "item_vectors.npy"), "--output", dir.File("tree.bin"), "--threads", "2"));
        string[] train = ["tdm", "train", .. data, "--epochs", "1", "--batch-size", "64", "--beam", "20"];
        Assert.Equal(0, Vrecall([.. train, "--user-init", dir.File("b"), "--tree", dir.File("tree.bin"), "--checkpoint-dir", dir.File("t1")]));
        Assert.Equal(0, Vrecall("tdm", "get-leaf", "--model", Path.Combine(dir.File("t1"), "best_model.safetensors"), "--out", dir.File("leaf_emb.npy")));
        Assert.Equal([60, 16], Npy.Read(dir.File("leaf_emb.npy")).Shape);
        Assert.Equal(0, Vrecall("tdm", "build-tree", "--input", dir.File("leaf_emb.npy"), "--output", dir.File("tree_2.bin"), "--tree_emb_path", dir.File("tree_emb_2.npy")));
        Assert.Equal(ItemTree.Load(dir.File("tree_2.bin")).NodeCount, Npy.Read(dir.File("tree_emb_2.npy")).Shape[0]);
        // The second model starts from the first one's user tower, which learned alongside the leaves.
        Assert.Equal(0, Vrecall([.. train, "--user-init", Path.Combine(dir.File("t1"), "best_model.safetensors"), "--tree", dir.File("tree_2.bin"),
            "--scorer", "mlp", "--mlp", "16", "8", "--checkpoint-dir", dir.File("t2"), "--bundle", dir.File("tb2")]));
        Assert.Equal(0, Vrecall(["bundle", "--tdm-model", Path.Combine(dir.File("t1"), "best_model.safetensors"), .. data, "--beam", "50", "--bundle", dir.File("tb1")]));
        Assert.Equal(0, Vrecall(["eval", .. data, "--bundle", dir.File("b"), dir.File("tb1"), dir.File("tb2"), "--beam", "50", "--json", dir.File("r.json")]));
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(dir.File("r.json")));
        var retrievers = doc.RootElement.GetProperty("retrievers");
        foreach (var name in new[] { "b:flat", "b:hnsw", "tb1:tdm", "tb2:tdm" })
            Assert.True(retrievers.GetProperty(name).TryGetProperty("hr@50", out _), name);

        // Bad input: a beam narrower than K, exact search on a TDM bundle, a corrupt tree, a tree for other items, embeddings of the wrong shape.
        Assert.Equal(1, Vrecall(["eval", .. data, "--bundle", dir.File("tb1"), "--beam", "10"]));
        Assert.Equal(1, Vrecall(["eval", .. data, "--bundle", dir.File("tb1"), "--retriever", "flat"]));
        var bytes = File.ReadAllBytes(dir.File("tree.bin"));
        bytes[^9] ^= 0x10;
        File.WriteAllBytes(dir.File("bad.bin"), bytes);
        Assert.Equal(1, Vrecall([.. train, "--tree", dir.File("bad.bin"), "--checkpoint-dir", dir.File("t3")]));
        Npy.Write(dir.File("few.npy"), Tensor.Randn(new Rng(1), 1f, 40, 16));
        Assert.Equal(0, Vrecall("tdm", "build-tree", "--input", dir.File("few.npy"), "--output", dir.File("few.bin")));
        Assert.Equal(1, Vrecall([.. train, "--tree", dir.File("few.bin"), "--checkpoint-dir", dir.File("t4")]));
        Npy.Write(dir.File("flat.npy"), new float[60], [60]);
        Assert.Equal(1, Vrecall("tdm", "build-tree", "--input", dir.File("flat.npy"), "--output", dir.File("x.bin")));
        Assert.Equal(1, Vrecall("tdm", "build-tree", "--input", dir.File("few.npy"), "--output", dir.File("x.bin"), "--mode", "category"));
        Assert.False(File.Exists(dir.File("x.bin")));
    }
}
