using System.Text.Json;
using VectorRecall.Autograd;
using VectorRecall.IO;
using VectorRecall.Numerics;
using VectorRecall.SemanticIds;
using VectorRecall.Training;
using VectorRecall.Towers;

namespace VectorRecall.Tests.SemanticIds;

public class SemanticIdsTests
{
    private static RqVaeConfig Small(int inDim = 8, params int[] codebooks) => new()
    {
        InDim = inDim, Layers = [32, 16], EDim = 4, NumEmbList = codebooks.Length == 0 ? [8, 8] : codebooks,
        SkEpsilons = new float[codebooks.Length == 0 ? 2 : codebooks.Length],
    };

    /// <summary><paramref name="clusters"/> far-apart blobs of <paramref name="perCluster"/> points each.</summary>
    private static Tensor Blobs(int clusters, int perCluster, int dim, ulong seed, float spread = 0.1f)
    {
        var rng = new Rng(seed);
        var centres = Tensor.Randn(rng, 3f, clusters, dim);
        var points = new Tensor(clusters * perCluster, dim);
        for (int c = 0; c < clusters; c++)
            for (int i = 0; i < perCluster; i++)
            {
                var row = points.Row(c * perCluster + i);
                rng.FillNormal(row, 0f, spread);
                System.Numerics.Tensors.TensorPrimitives.Add(row, centres.Row(c), row);
            }
        return points;
    }

    [Fact]
    public void StraightThroughPassesTheOutputGradientToZUnchanged()
    {
        var rng = new Rng(1);
        var quantizer = new ResidualQuantizer(4, [8, 8], 0.25f, rng);
        var z = new Variable(Tensor.Randn(rng, 1f, 5, 4), requiresGrad: true);
        var weights = Tensor.Randn(rng, 1f, 5, 4);
        using var tape = new Tape();
        var output = quantizer.Forward(z);
        tape.Backward(Ops.Sum(Ops.Mul(output.Quantized, new Variable(weights))));
        // d/dz Σ w·(z + sg(Σq − z)) = w exactly; the value is the codewords' sum, not z.
        Assert.Equal(weights.ToArray(), z.Grad!.ToArray());
        var codes = output.Codes;
        for (int i = 0; i < 5; i++)
        {
            var expected = new float[4];
            for (int l = 0; l < 2; l++)
                for (int j = 0; j < 4; j++) expected[j] += quantizer.Codebook(l)[codes[i * 2 + l], j];
            for (int j = 0; j < 4; j++) Assert.Equal(expected[j], output.Quantized.Value[i, j], 5);
        }
    }

    [Fact]
    public void ReconstructionGradientReachesTheEncoderAndNotTheCodebooks()
    {
        var rng = new Rng(2);
        var model = new RqVae(Small(), rng);
        var x = Tensor.Randn(rng, 1f, 16, 8);
        model.Quantizer.InitializeByKMeans(model.EncodeLatent(x), 10, rng);
        var firstLayer = model.Encoder.Layers.OfType<VectorRecall.Nn.Linear>().First();
        using (var tape = new Tape())
            tape.Backward(model.Forward(x).ReconstructionLoss);
        Assert.True(System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(firstLayer.Weight.Grad!.Span) != 0, "the reconstruction loss did not reach the encoder");
        var book = model.NamedParameters().First(p => p.Name == "rq.codebook_0").Parameter;
        Assert.True(book.Grad is null || System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(book.Grad.Span) == 0);
    }

    [Fact]
    public void QuantizationLossMovesCodebooksAndCommitsEveryLevelsResidualToZ()
    {
        var rng = new Rng(3);
        var quantizer = new ResidualQuantizer(4, [8, 8], 0.5f, rng);
        var z = new Variable(Tensor.Randn(rng, 1f, 6, 4), requiresGrad: true);
        QuantizerOutput output;
        using (var tape = new Tape())
        {
            output = quantizer.Forward(z);
            tape.Backward(output.Loss);
        }
        // loss = ½ Σ_l (‖q_l − sg r_l‖² + β‖sg q_l − r_l‖²)/(rows·dim) with r_0 = z, r_1 = z − sg q_0:
        // d/dz = β/(rows·dim) Σ_l (r_l − q_l).
        var codes = output.Codes;
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 4; j++)
            {
                float q0 = quantizer.Codebook(0)[codes[i * 2], j], q1 = quantizer.Codebook(1)[codes[i * 2 + 1], j];
                float r0 = z.Value[i, j], r1 = r0 - q0;
                float expected = 0.5f * 0.5f * 2f / 24f * ((r0 - q0) + (r1 - q1));
                Assert.Equal(expected, z.Grad![i, j], 5);
            }
        foreach (var (name, book) in quantizer.NamedParameters())
            Assert.True(book.Grad is { } g && System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(g.Span) != 0, $"{name} has no gradient ({(book.Grad is null ? "null" : "zeros")}, codes {string.Join(",", output.Codes)})");
    }

    [Fact]
    public void ResidualsShrinkLevelByLevelOnClusteredData()
    {
        var rng = new Rng(3);
        var points = Blobs(16, 40, 6, seed: 3, spread: 0.5f);
        var quantizer = new ResidualQuantizer(6, [16, 16, 16], 0.25f, rng);
        quantizer.InitializeByKMeans(points, 50, rng);
        var codes = quantizer.Encode(points);
        var residual = points.Clone();
        double previous = Norm(residual);
        for (int l = 0; l < 3; l++)
        {
            for (int i = 0; i < points.Rows; i++)
                System.Numerics.Tensors.TensorPrimitives.Subtract(residual.Row(i), quantizer.Codebook(l).Row(codes[i * 3 + l]), residual.Row(i));
            double now = Norm(residual);
            Assert.True(now < 0.8 * previous, $"level {l}: residual energy {now:F3} did not shrink enough from {previous:F3}");
            previous = now;
        }

        static double Norm(Tensor t) => System.Numerics.Tensors.TensorPrimitives.SumOfSquares(t.Span);
    }

    [Fact]
    public void SinkhornPlanIsDoublyStochasticOnAHandMadeCostMatrix()
    {
        float[] cost = [0, 1, 4, 1, 0, 1, 4, 1, 0];
        var plan = SinkhornKnopp.Plan(cost, 3, 3, 0.1, 200);
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(1.0, 3 * (plan[i * 3] + plan[i * 3 + 1] + plan[i * 3 + 2]), 6);
            Assert.Equal(1.0, 3 * (plan[i] + plan[3 + i] + plan[6 + i]), 6);
        }
        // Low cost on the diagonal: the plan puts most of each row there.
        for (int i = 0; i < 3; i++) Assert.True(plan[i * 4] > 0.5 / 3, $"row {i}: diagonal mass {plan[i * 4] * 3:F3}");
        // A tiny epsilon stays finite in the log domain.
        Assert.All(SinkhornKnopp.Plan(cost, 3, 3, 1e-4, 50), v => Assert.True(double.IsFinite(v)));
    }

    [Fact]
    public void SinkhornSpreadsPointsThatAllPreferOneCode()
    {
        // 64 points on a line, 8 codes beyond its right end: every point's nearest code is code 0.
        const int n = 64, k = 8;
        var cost = new float[n * k];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < k; j++) { float d = i * 0.1f - (10 + j); cost[i * k + j] = d * d; }
        var nearest = Enumerable.Range(0, n).Select(i => Array.IndexOf(cost, cost.Skip(i * k).Take(k).Min(), i * k) - i * k).ToArray();
        Assert.All(nearest, c => Assert.Equal(0, c));
        var assignment = new int[n];
        SinkhornKnopp.Assign(cost, n, k, 0.003, 100, assignment);
        var counts = new int[k];
        foreach (int c in assignment) counts[c]++;
        Assert.All(counts, c => Assert.InRange(c, 4, 12));
    }

    [Fact]
    public void GenerationIsCollisionFreeWithExactDuplicates()
    {
        var rng = new Rng(4);
        var items = Blobs(6, 10, 8, seed: 4);
        var withDuplicates = new Tensor(items.Rows + 12, 8);
        items.Span.CopyTo(withDuplicates.Span);
        for (int i = 0; i < 12; i++) items.Row(i % 2).CopyTo(withDuplicates.Row(items.Rows + i));  // items 0 and 1, six more times each
        var model = new RqVae(Small(), rng);
        model.Quantizer.InitializeByKMeans(model.EncodeLatent(withDuplicates), 20, rng);
        var (codes, report) = SemanticIdGenerator.Generate(model, withDuplicates);
        Assert.True(report.CollisionRateBefore > 0);
        Assert.Equal(0, report.FinalCollisionRate);
        Assert.Equal(0, codes.CollisionRate);
        Assert.Equal(codes.Count, codes.DistinctCount);
        // Exact duplicates cannot be told apart by any codeword: the extra level numbers them.
        Assert.Equal(3, codes.Levels);
        Assert.True(report.ExtraLevelSize >= 7, $"extra level of {report.ExtraLevelSize}");
        // Statistics follow their definitions.
        var plain = new SemanticCodes([1, 2, 1, 2, 3, 2, 0, 0], [4, 4]);
        Assert.Equal(0.25, plain.CollisionRate);
        Assert.Equal(3, plain.UsedCodes(0));
        Assert.Equal(0.5, plain.Utilization(1));
        Assert.Single(plain.CollidingGroups());
    }

    [Fact]
    public void IdFileMatchesTheDesignNoteFormatAndRoundTrips()
    {
        using var dir = new TempDir();
        var codes = new SemanticCodes([128, 241, 146, 171, 57, 141], [256, 256, 256]);
        SemanticIdFile.Write(dir.File("x.index.json"), codes);
        Assert.Equal("""{"0":["<a_128>","<b_241>","<c_146>"],"1":["<a_171>","<b_57>","<c_141>"]}""", File.ReadAllText(dir.File("x.index.json")));
        var (ids, raw, levels) = SemanticIdFile.Read(dir.File("x.index.json"));
        Assert.Equal([0L, 1L], ids.ToNumbers());
        Assert.Equal(codes.Codes, raw);
        Assert.Equal(3, levels);
        Assert.Equal(["x.index.json"], dir.Files());
        // Keyed by the items' own ids when given, text or number alike.
        SemanticIdFile.Write(dir.File("x.index.json"), codes, VectorRecall.Data.IdMap.FromKeys(["sku-9", "42"]));
        Assert.StartsWith("""{"sku-9":["<a_128>""", File.ReadAllText(dir.File("x.index.json")));
        Assert.Equal("sku-9", SemanticIdFile.Read(dir.File("x.index.json")).ItemIds[0]);

        foreach (var (text, problem) in new[]
        {
            ("""{"0": ["<a_1>", "<c_2>"]}""", "level 1"),
            ("""{"0": ["<a_1>"], "1": ["<a_1>", "<b_2>"]}""", "2 tokens"),
            ("""{"": ["<a_1>"]}""", "key is empty"),
            ("""[1, 2]""", "expected an object"),
            ("""{"0": ["<a_1>" """, "not valid JSON"),
        })
        {
            File.WriteAllText(dir.File("bad.json"), text);
            var e = Assert.Throws<FileFormatException>(() => SemanticIdFile.Read(dir.File("bad.json")));
            Assert.Contains(problem, e.Message);
            Assert.Contains("bad.json", e.Message);
        }
    }

    [Fact]
    public void TrieHasOneLeafPerItemAndBeamSearchMatchesExactSearch()
    {
        var rng = new Rng(5);
        var items = Blobs(12, 25, 8, seed: 5, spread: 0.4f);
        var model = new RqVae(Small(8, 8, 8), rng);
        using var dir = new TempDir();
        // Inner nodes are decoded codeword sums: the decoder must have learned something.
        new RqVaeTrainer(model, items, RqVaeTrainerOptions.Loop(40, 2) with { BatchSize = 64, SaveEvery = 40, LearningRate = 3e-3, CheckpointDir = dir.Path }).Train();
        var (codes, _) = SemanticIdGenerator.Generate(model, items);
        var retriever = new SemanticIdRetriever(model, items, codes, beam: 300);
        var trie = retriever.Trie;
        // Levels are blocks, children runs; every item is on exactly one leaf of the last level.
        Assert.Equal(codes.Levels + 1, trie.LevelCount);
        Assert.Equal(1, trie.LevelSize(0));
        var leaves = Enumerable.Range(trie.LevelStart(trie.LevelCount - 1), trie.LevelSize(trie.LevelCount - 1)).Select(trie.LeafItem).Order().ToArray();
        Assert.Equal(Enumerable.Range(0, items.Rows).ToArray(), leaves);
        for (int level = 0; level + 1 < trie.LevelCount; level++)
            for (int node = trie.LevelStart(level); node < trie.LevelStart(level) + trie.LevelSize(level); node++)
            {
                Assert.InRange(trie.ChildStart(node), trie.LevelStart(level + 1), trie.LevelStart(level + 1) + trie.LevelSize(level + 1) - 1);
                Assert.Equal(level, trie.DepthOf(node));
            }

        // With a beam as wide as the catalogue the search is exact; a narrow one keeps most of the exact top 10.
        var queries = Tensor.Randn(rng, 1f, 40, 8);
        using var flat = TowerEncoder.BuildIndex(items, "Flat");
        var exact = new long[40 * 10];
        flat.SearchBatch(queries.Span, 10, exact, new float[400], new int[40]);
        foreach (var (beam, minimum) in new[] { (300, 1.0), (30, 0.8) })
        {
            var narrow = new SemanticIdRetriever(model, items, codes, beam);
            var ids = new long[400];
            narrow.SearchBatch(queries.Span, 10, ids, new float[400], new int[40]);
            double recall = Enumerable.Range(0, 40).Average(q => ids.Skip(q * 10).Take(10).Intersect(exact.Skip(q * 10).Take(10)).Count() / 10.0);
            Assert.True(recall >= minimum, $"beam {beam}: recall@10 against exact search {recall:F3} < {minimum}");
        }
        Assert.Throws<ArgumentException>(() => new SemanticIdTrie(new SemanticCodes([1, 1, 1, 1], [4, 4])));
    }

    [Fact]
    public void BadInputGetsClearErrors()
    {
        using var dir = new TempDir();
        Npy.Write(dir.File("rank1.npy"), new float[8], [8]);
        Assert.Contains("expected a matrix", Assert.Throws<FileFormatException>(() => ItemEmbeddings.Load(dir.File("rank1.npy"))).Message);
        Npy.Write(dir.File("ints.npy"), new int[8], [2, 4]);
        Assert.Contains("int32", Assert.Throws<FileFormatException>(() => ItemEmbeddings.Load(dir.File("ints.npy"))).Message);
        var values = new float[8];
        values[6] = float.NaN;
        Npy.Write(dir.File("nan.npy"), values, [2, 4]);
        var nan = Assert.Throws<FileFormatException>(() => ItemEmbeddings.Load(dir.File("nan.npy")));
        Assert.Contains("row 1, column 2", nan.Message);
        Assert.Contains("nan.npy", nan.Message);

        Assert.Contains("positive", Assert.Throws<SettingException>(() => Small(8, 8, 0).Validate()).Message);
        Assert.Contains("one per codebook", Assert.Throws<SettingException>(() => (Small() with { SkEpsilons = [0f] }).Validate()).Message);
        var rng = new Rng(6);
        var model = new RqVae(Small(8, 16, 16), rng);
        Assert.Contains("fewer than a codebook", Assert.Throws<ArgumentException>(() =>
            new RqVaeTrainer(model, Tensor.Randn(rng, 1f, 10, 8), RqVaeTrainerOptions.Loop() with { CheckpointDir = dir.File("c") })).Message);
        Assert.Throws<ArgumentException>(() => model.Quantizer.InitializeByKMeans(Tensor.Randn(rng, 1f, 10, 4), 5, rng));

        // A checkpoint read against another configuration, or data of another width.
        RqVaeCheckpoint.Save(dir.File("m.safetensors"), model, new CheckpointInfo(1, 1, 0), null);
        var (loaded, _, dataPath) = RqVaeCheckpoint.Load(dir.File("m.safetensors"));
        Assert.Null(dataPath);
        Assert.Equal(model.Config.ToJson(), loaded.Config.ToJson());
        Assert.Contains("another configuration", Assert.Throws<ArgumentException>(() =>
            RqVaeCheckpoint.CheckData(loaded, Tensor.Zeros(3, 5), "m.safetensors", "x.npy")).Message);
        var other = new RqVae(Small(8, 8, 8), rng);
        Assert.Contains("different model shape", Assert.Throws<FileFormatException>(() =>
            TrainingCheckpoint.Load(dir.File("m.safetensors"), other, RqVaeCheckpoint.Format, m => TrainingCheckpoint.ConfigJson("", m) == other.Config.ToJson(), other.Config.ToJson())).Message);
        var bytes = File.ReadAllBytes(dir.File("m.safetensors"));
        File.WriteAllBytes(dir.File("cut.safetensors"), bytes[..(bytes.Length / 2)]);
        Assert.ThrowsAny<Exception>(() => RqVaeCheckpoint.Load(dir.File("cut.safetensors")));
    }

    [Fact]
    public void TrainerKeepsBestCheckpointsAndTheLatestEpochs()
    {
        using var dir = new TempDir();
        var rng = new Rng(7);
        var items = Blobs(20, 20, 8, seed: 7, spread: 0.3f);
        var model = new RqVae(Small(8, 16, 16), rng);
        var trainer = new RqVaeTrainer(model, items, RqVaeTrainerOptions.Loop(6, 1) with
        {
            BatchSize = 64, SaveEvery = 2, SaveLimit = 2, LearningRate = 3e-3, CheckpointDir = dir.Path,
        }, new RqVaeTrainerOptions { KMeansIters = 20 }, dataPath: "items.npy");
        var epochs = trainer.Train();
        Assert.Equal(6, epochs.Count);
        var parts = trainer.LossParts;
        Assert.True(parts[^1].Reconstruction < 0.7 * parts[0].Reconstruction, $"reconstruction loss went from {parts[0].Reconstruction:G4} to {parts[^1].Reconstruction:G4}");
        Assert.Contains("reconstruction", epochs[0].Note);
        Assert.Equal([2, 4, 6], trainer.Evaluations.Keys.Order());
        var files = Directory.GetFiles(dir.Path).Select(f => Path.GetFileName(f)).Order().ToArray();
        Assert.Equal(["best_collision.safetensors", "best_model.safetensors", "best_utilization.safetensors", "checkpoint_epoch_4.safetensors", "checkpoint_epoch_6.safetensors", "train.log"], files);
        Assert.Equal(6, File.ReadAllLines(trainer.LogPath).Count(l => l.StartsWith("epoch ", StringComparison.Ordinal)));
        var (loaded, info, dataPath) = RqVaeCheckpoint.Load(trainer.CheckpointPath("checkpoint_epoch_6"));
        Assert.Equal(6, info.CompletedEpochs);
        Assert.EndsWith("items.npy", dataPath);
        Assert.True(loaded.Quantizer.Initialized);
        Assert.Equal(RqVaeEvaluation.Of(model, items).CollisionRate, RqVaeEvaluation.Of(loaded, items).CollisionRate);
    }
}
