using VectorRecall.Data;
using VectorRecall.Nn;
using VectorRecall.Numerics;
using VectorRecall.Towers;
using VectorRecall.Training;

namespace VectorRecall.Tdm;

/// <summary>How each next tree is found: JTM's tree step from the model (<see cref="TreeLearner"/>), or balanced k-means on the model's leaf embeddings (the design note's way).</summary>
public enum NextTree { Learn, Recluster }

/// <summary>The whole TDM workflow's settings (<see cref="TdmFit"/>).</summary>
public sealed record TdmFitOptions
{
    /// <summary>Epochs, batch, learning rate, seed; <see cref="TrainerOptions.CheckpointDir"/> is the root, each stage a folder in it.</summary>
    public required TrainerOptions Trainer { get; init; }
    /// <summary>Per-level negatives, loss, beams; used by every stage.</summary>
    public TdmOptions Tdm { get; init; } = new() { NegativesPerLevel = [50], Negatives = TdmNegatives.InBatch, TrainUserTower = false, TrainLeaves = false };
    /// <summary>The first tree: balanced k-means on the two-tower's item vectors.</summary>
    public TreeBuildOptions Tree { get; init; } = new();
    /// <summary>How each next tree is found from the model before it.</summary>
    public NextTree NextTree { get; init; } = NextTree.Learn;
    /// <summary>The tree step's settings (<see cref="NextTree.Learn"/>).</summary>
    public TreeLearningOptions Learning { get; init; } = new();
    /// <summary>Tree-learning rounds after the first tree's training: learn a tree, train on it.</summary>
    public int Rounds { get; init; } = 1;
    /// <summary>
    /// The inner-product logits' temperature in training; null: the scale the user encoder was trained at — 0.1 for a
    /// user tower (the two-tower's InfoNCE default), 1 for a sequence encoder (its softmax is over raw scores).
    /// </summary>
    public float? Temperature { get; init; }
    /// <summary>Non-empty: a stage trains an MLP scorer of these hidden sizes on the best tree, starting from the best inner-product model.</summary>
    public int[] MlpHidden { get; init; } = [];
    /// <summary>
    /// Not null: a last stage learns to rank the leaves the best inner-product model's beam reaches (<see cref="LeafScorerTraining"/>;
    /// its beam is <see cref="TdmOptions.Beam"/>, its seed the trainer's).
    /// </summary>
    public LeafScorerOptions? LeafScorer { get; init; } = new();

    public void Validate()
    {
        Tree.Validate();
        Learning.Validate();
        Settings.Check(Rounds >= 0, nameof(Rounds), $"must be 0 or more, got {Rounds}");
        Settings.Check(Temperature is null or > 0, nameof(Temperature), $"must be positive, got {Temperature}");
        LeafScorer?.Validate();
    }
}

/// <summary>One stage of the workflow: its name, its best validation Recall@20 (beam search), its best epoch and its time.</summary>
public sealed record TdmFitStage(string Name, double ValidationRecall, int BestEpoch, double Seconds);

/// <summary>
/// The design note's TDM workflow in one call: a tree from the two-tower's item vectors (balanced
/// k-means), a model trained on it that starts from the two-tower's user encoder (its user tower, or its
/// sequence encoder) and the tree's node embeddings, then <see cref="TdmFitOptions.Rounds"/> rounds of joint tree learning (<see cref="TreeLearner"/>:
/// the items move to where the trained model scores them best, and the same model trains on).
/// Optionally an MLP scorer on every level; by default, last, an MLP that ranks the leaves the best inner-product model's
/// beam reaches (<see cref="LeafScorerTraining"/>). The result is the stage with the best validation recall.
/// </summary>
public static class TdmFit
{
    /// <summary>
    /// Runs the workflow on <paramref name="data"/> from a two-tower's user encoder (<paramref name="user"/>: a trained
    /// <see cref="UserTower"/> or <see cref="SequenceUser"/>) and item vectors (row i = item i);
    /// <paramref name="train"/> runs one stage's trainer to completion (the caller may show progress), <paramref name="log"/>
    /// gets a line as each stage starts and ends. Returns the best stage's model and tree, and every stage's figures.
    /// </summary>
    public static (TdmModel Model, ItemTree Tree, IReadOnlyList<TdmFitStage> Stages) Run(RecDataset data, Module user, Tensor itemVectors,
        TdmFitOptions options, Action<TdmTrainer> train, Action<string>? log = null, CancellationToken cancel = default)
    {
        options.Validate();
        int width = UserPart(user).Dimension;
        if (itemVectors.Rows != data.ItemCount || itemVectors.Cols != width)
            throw new ArgumentException($"item vectors are {itemVectors}, expected [{data.ItemCount} x {width}] (one per item, the user encoder's width)");
        var stages = new List<TdmFitStage>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var tree = TreeBuilder.Build(itemVectors, options.Tree, cancel: cancel);
        log?.Invoke($"tree 1: balanced k-means over {data.ItemCount:N0} item vectors, {tree.NodeCount:N0} nodes on {tree.LevelCount} levels ({clock.Elapsed.TotalSeconds:F1} s)");
        var model = NewModel(user, tree, NodeScorerKind.InnerProduct, options);
        tree.Embeddings.Span.CopyTo(model.Nodes.Weight.Value.Span);
        var results = new List<(Dictionary<string, Tensor> State, ItemTree Tree)> { (Stage("tree_1", model, tree, data, options, train, stages, log), tree) };
        for (int round = 1; round <= options.Rounds; round++)
        {
            cancel.ThrowIfCancellationRequested();
            clock.Restart();
            model.Nodes.Weight.Value.Span.CopyTo(tree.Embeddings.Span);
            var learned = options.NextTree == NextTree.Recluster
                ? TreeBuilder.Build(tree.LeafEmbeddings(tree.Embeddings), options.Tree, cancel: cancel)
                : TreeLearner.Learn(tree, model, TdmRetriever.EncodeUsers(model, data, Enumerable.Range(0, data.UserCount).ToArray(), data.Train), data.Train, options.Learning, cancel: cancel);
            if (learned.NodeCount != tree.NodeCount) throw new InvalidOperationException($"the next tree has {learned.NodeCount} nodes, the model {tree.NodeCount}");
            // Siblings tie (an item's leaf score goes with it), so what counts is the parent an item ends under.
            int moved = Enumerable.Range(0, data.ItemCount).Count(i => learned.Codes[learned.Parent(learned.LeafOf(i))] != tree.Codes[tree.Parent(tree.LeafOf(i))]);
            string how = options.NextTree == NextTree.Recluster ? "re-clustered from the model's leaf embeddings" : $"learned from the model (level gap {options.Learning.LevelGap})";
            log?.Invoke($"tree {round + 1}: {how}, {moved:N0} of {data.ItemCount:N0} items under another parent ({clock.Elapsed.TotalSeconds:F1} s)");
            tree = learned;
            // The node table follows the tree: items took their leaf rows along, internal rows restart as means.
            tree.Embeddings.Span.CopyTo(model.Nodes.Weight.Value.Span);
            results.Add((Stage($"tree_{round + 1}", model, tree, data, options, train, stages, log), tree));
        }
        int best = Enumerable.Range(0, results.Count).MaxBy(i => stages[i].ValidationRecall);
        model.LoadStateDict(results[best].State);
        tree = results[best].Tree;
        var (route, routeName) = (model, stages[best].Name);
        if (options.MlpHidden.Length > 0)
        {
            var mlp = NewModel(model.UserEncoder, tree, NodeScorerKind.Mlp, options);
            model.Nodes.Weight.Value.Span.CopyTo(mlp.Nodes.Weight.Value.Span);
            // In-batch negatives are one GEMM per level for the inner product only: the MLP trains on uniform ones, and on
            // every level, its leaf scores being its own.
            var mlpOptions = options with
            {
                Tdm = options.Tdm with { Negatives = options.Tdm.Negatives == TdmNegatives.InBatch ? TdmNegatives.Uniform : options.Tdm.Negatives, TrainLeaves = true },
            };
            Stage("mlp", mlp, tree, data, mlpOptions, train, stages, log);
            if (stages[^1].ValidationRecall > stages[best].ValidationRecall) (model, best) = (mlp, stages.Count - 1);
        }
        if (options.LeafScorer is { } leafOptions)
        {
            cancel.ThrowIfCancellationRequested();
            clock.Restart();
            log?.Invoke($"leaf_mlp: an MLP {string.Join("-", leafOptions.Hidden)} ranks the leaves of a {options.Tdm.Beam}-wide beam over {routeName}'s inner-product route");
            var leaf = LeafScorerTraining.Fit(route, tree, data, leafOptions with { Beam = options.Tdm.Beam, Seed = options.Trainer.Seed }, log, cancel);
            // Its folder holds its model as every stage's does, so `vrecall bundle --tdm-model` can serve it on its own.
            string folder = Path.Combine(options.Trainer.CheckpointDir, "leaf_mlp");
            Directory.CreateDirectory(folder);
            TdmCheckpoint.Save(Path.Combine(folder, "best_model.safetensors"), leaf.Model, tree, null,
                new CheckpointInfo(leaf.Epochs, 0, double.NaN, leaf.Epochs, leaf.ValidationRecall));
            stages.Add(new TdmFitStage("leaf_mlp", leaf.ValidationRecall, leaf.Epochs, clock.Elapsed.TotalSeconds));
            if (leaf.ValidationRecall > stages[best].ValidationRecall) (model, best) = (leaf.Model, stages.Count - 1);
        }
        model.Nodes.Weight.Value.Span.CopyTo(tree.Embeddings.Span);
        log?.Invoke($"best stage: {stages[best].Name} (validation Recall@{TdmTrainer.SelectionK} {stages[best].ValidationRecall:F4})");
        return (model, tree, stages);
    }

    /// <summary>A model over <paramref name="tree"/> whose user encoder is a copy of <paramref name="user"/>.</summary>
    private static TdmModel NewModel(Module user, ItemTree tree, NodeScorerKind scorer, TdmFitOptions options)
    {
        var config = UserPart(user) with { Nodes = tree.NodeCount, Scorer = scorer, Temperature = options.Temperature ?? (user is SequenceUser ? 1f : 0.1f), MlpHidden = options.MlpHidden.Length > 0 ? options.MlpHidden : [400, 200, 100] };
        var model = new TdmModel(config, new Rng(options.Trainer.Seed ^ 0x7D3UL));
        model.UserEncoder.LoadStateDict(user.StateDict());
        return model;
    }

    /// <summary>The user encoder's part of a TDM configuration.</summary>
    private static TdmConfig UserPart(Module user) => user switch
    {
        UserTower tower => new TdmConfig { User = tower.Config },
        SequenceUser sequence => new TdmConfig { Sequence = sequence.Config },
        _ => throw new ArgumentException($"a TDM user encoder is a {nameof(UserTower)} or a {nameof(SequenceUser)}, not a {user.GetType().Name}"),
    };

    /// <summary>Trains one stage in its own checkpoint folder, restores its best epoch and returns that state.</summary>
    private static Dictionary<string, Tensor> Stage(string name, TdmModel model, ItemTree tree, RecDataset data, TdmFitOptions options, Action<TdmTrainer> train,
        List<TdmFitStage> stages, Action<string>? log)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var trainerOptions = options.Trainer with { CheckpointDir = Path.Combine(options.Trainer.CheckpointDir, name), SelectBy = ModelSelection.Recall };
        var scorer = model.Config.Scorer == NodeScorerKind.Mlp ? $"MLP {string.Join("-", model.Config.MlpHidden)}" : "inner product";
        string negatives = options.Tdm.Negatives switch
        {
            TdmNegatives.Beam => $"negatives from a beam of {options.Tdm.TrainingBeam}",
            TdmNegatives.InBatch => "in-batch and uniform negatives",
            _ => "uniform negatives",
        };
        log?.Invoke($"{name}: training ({scorer}, {negatives})");
        // Stages are compared by validation recall, so the inner-product stages rank every validation user (a beam search
        // costs them a fraction of a millisecond; 5,000 users left 0.0004 differences to noise on Gowalla). The MLP keeps the cap.
        var tdm = model.Config.Scorer == NodeScorerKind.InnerProduct ? options.Tdm with { ValidationUsers = int.MaxValue } : options.Tdm;
        var trainer = new TdmTrainer(model, tree, data, trainerOptions, tdm);
        log?.Invoke($"{name}: validation Recall@{TdmTrainer.SelectionK} before training {trainer.ValidationRecall():F4}");
        train(trainer);
        trainer.RestoreBest();
        stages.Add(new TdmFitStage(name, trainer.BestValidationRecall, trainer.BestEpoch, clock.Elapsed.TotalSeconds));
        log?.Invoke($"{name}: best epoch {trainer.BestEpoch}, validation Recall@{TdmTrainer.SelectionK} {trainer.BestValidationRecall:F4} ({clock.Elapsed.TotalSeconds:F1} s)");
        return model.StateDict().ToDictionary(p => p.Key, p => p.Value.Clone());
    }
}
