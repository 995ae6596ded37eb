using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Spectre.Console;
using VectorRecall.Data;
using VectorRecall.IO;
using VectorRecall.Nn;
using VectorRecall.Numerics;
using VectorRecall.Serving;
using VectorRecall.Tdm;
using VectorRecall.TwoTower;
using VectorRecall.Training;
using VectorRecall.Towers;

namespace VectorRecall.Cli.Commands;

/// <summary>
/// <c>vrecall tdm</c>: the tree-based deep model's workflow — <c>build-tree</c> from item embeddings,
/// <c>train</c> on a data set over a tree, <c>get-leaf</c> to export the learned leaf embeddings for
/// the next tree; <c>vrecall eval --retriever tdm</c> evaluates the result.
/// </summary>
internal static class TdmCommands
{
    public static Command Create()
    {
        var tdm = new Command("tdm", "Tree-based deep model: build a tree from item embeddings, train on it, export the learned leaves.");
        tdm.Add(BuildTree());
        tdm.Add(Train());
        tdm.Add(GetLeaf());
        tdm.Add(Fit());
        return tdm;
    }

    private static Command BuildTree()
    {
        var mode = new Option<string>("--mode") { Description = "kmeans (balanced k-means, also by_kmeans), random or category (ablations)", DefaultValueFactory = _ => "kmeans" };
        var input = new Option<string>("--data") { Description = "item embeddings [items x dim], row i = item i (.npy, .fvecs)", Required = true };
        var output = new Option<string>("--output") { Description = "tree file to write", Required = true };
        var treeEmb = new Option<string?>("--tree-emb", "--tree_emb_path", "--tree-emb-path") { Description = "also write the node embeddings [nodes x dim] as .npy, rows in ascending heap-code order" };
        var branch = new Option<int>("--branch") { Description = "children per node", DefaultValueFactory = _ => 2 };
        var categories = new Option<string?>("--categories") { Description = "category mode: an .npy of one integer category per item" };
        var iterations = new Option<int>("--kmeans-iters", "--kmeans_iters") { Description = "k-means iterations per split, at most", DefaultValueFactory = _ => 20 };
        var seed = new Option<ulong>("--seed") { Description = "seed for k-means and random mode", DefaultValueFactory = _ => 42 };
        var command = new Command("build-tree", "Build a balanced item tree (all leaves on the last level) from item embeddings.")
        {
            mode, input, output, treeEmb, branch, categories, iterations, seed,
        };
        command.SetAction((r, token) => CliErrors.Guard(() =>
        {
            var options = new TreeBuildOptions
            {
                Mode = ParseMode(r.GetValue(mode)!), Branch = r.GetValue(branch),
                KMeansIterations = r.GetValue(iterations), Seed = r.GetValue(seed),
            };
            return Task.FromResult(RunBuildTree(options, r.GetValue(input)!, r.GetValue(output)!, r.GetValue(treeEmb), r.GetValue(categories), token));
        }));
        return command;
    }

    private static TreeBuildMode ParseMode(string mode) => mode.ToLowerInvariant() switch
    {
        "kmeans" or "by_kmeans" => TreeBuildMode.KMeans,
        "random" => TreeBuildMode.Random,
        "category" or "by_category" => TreeBuildMode.Category,
        _ => throw new ArgumentException($"--mode: unknown '{mode}' (expected kmeans, random or category)"),
    };

    private static int RunBuildTree(TreeBuildOptions options, string input, string output, string? treeEmb, string? categoriesPath, CancellationToken token)
    {
        options.Validate();
        var items = VectorFiles.ReadMatrix(input);
        int[] categories = [];
        if (options.Mode == TreeBuildMode.Category)
        {
            if (categoriesPath is null) throw new ArgumentException("--mode category needs --categories FILE.npy (one integer per item)");
            categories = ReadCategories(categoriesPath, items.Rows);
        }
        AnsiConsole.MarkupLineInterpolated($"Building a {options.Mode} tree (branch {options.Branch}, depth {ItemTree.DepthFor(Math.Max(2, items.Rows), options.Branch)}) over {items.Rows:N0} items of dimension {items.Cols} from {input} on {Threads.Count} threads");
        var clock = Stopwatch.StartNew();
        ItemTree tree = null!;
        DemoCommand.WithProgress("Placing items", items.Rows, report =>
        {
            try { tree = TreeBuilder.Build(items, options, categories, new Progress<int>(n => report(n)), token); }
            catch (ArgumentException e) { throw new ArgumentException($"{input}: {e.Message}", e); }
        });
        double seconds = clock.Elapsed.TotalSeconds;
        tree.Save(output);
        if (treeEmb is not null) Npy.Write(treeEmb, tree.Embeddings);
        AnsiConsole.MarkupLineInterpolated($"Tree built in {seconds:F2} s: {tree.NodeCount:N0} nodes on {tree.LevelCount} levels, {tree.ItemCount:N0} leaves; saved to {output}{(treeEmb is null ? "" : $" and {treeEmb}")}");
        return 0;
    }

    private static int[] ReadCategories(string path, int items)
    {
        var a = Npy.Read(path);
        if (a.Shape.Length != 1 || a.Shape[0] != items) throw new FileFormatException(path, $"expected one category per item ([{items}]), found [{string.Join(", ", a.Shape)}]");
        return a.Type switch
        {
            ElementType.Int32 => (int[])a.Data,
            ElementType.Int64 => ((long[])a.Data).Select(v => (int)v).ToArray(),
            _ => throw new FileFormatException(path, $"categories must be int32 or int64, found {a.Type}"),
        };
    }

    /// <summary>The training flags <c>tdm train</c> and <c>tdm fit</c> share, and how they become options.</summary>
    private sealed class TrainingFlags
    {
        public readonly Option<string?> Dataset = new("--dataset") { Description = $"the data set's format: {string.Join(", ", DatasetLoaders.Names)} (default: from the --data file's extension)" };
        public readonly DataOptions Data = new();

        /// <summary>The interactions the flags name, read as train reads them (the same split, so the same item rows).</summary>
        public InteractionDataset Load(ParseResult r)
        {
            string data = r.GetValue(Data.Data) ?? throw new ArgumentException("--data is required: the interactions the model trains on");
            return DatasetLoaders.Load(DataOptions.RequireDataset(r.GetValue(Dataset), data), data, Data.Format(r));
        }
        public readonly Option<int[]> Mlp = new("--mlp") { Description = "hidden sizes of the MLP scorer", DefaultValueFactory = _ => [400, 200, 100], AllowMultipleArgumentsPerToken = true };
        public readonly Option<int[]> Negatives = new("--negatives") { Description = "negatives per level: one count, or one per level 1..depth (default 50 for ip, where they cost a dot product each; 6 for mlp)", AllowMultipleArgumentsPerToken = true };
        public readonly Option<string> NegativeSource = new("--negative-source") { Description = "uniform (drawn from the level), beam (first the nodes the model's own beam search reaches, the rest uniform; other positives masked) or in-batch (the batch's other positives on the level, logQ-corrected, besides the uniform ones; inner product only); default uniform for tdm train, in-batch for tdm fit" };
        public readonly Option<int> TrainingBeam = new("--training-beam") { Description = "beam width of the search that finds the beam negatives", DefaultValueFactory = _ => 16 };
        public readonly Option<bool> FreezeUser;
        public readonly Option<bool> FreezeLeaves;
        public readonly Option<string> Loss = new("--loss") { Description = "softmax (over each level's positive and negatives) or bce", DefaultValueFactory = _ => "softmax" };
        public readonly Option<int> Beam = new("--beam") { Description = "beam width for the validation recall and the bundle", DefaultValueFactory = _ => 100 };
        public readonly Option<int> Epochs;
        public readonly Option<int> Batch = new("--batch-size", "--batch_size") { Description = "interactions per step", DefaultValueFactory = _ => 256 };
        public readonly Option<double> Lr = new("--lr") { Description = "peak learning rate (AdamW; warmup then cosine decay)", DefaultValueFactory = _ => 3e-3 };
        public readonly Option<double> WeightDecay = new("--weight-decay", "--weight_decay") { Description = "AdamW's decoupled weight decay", DefaultValueFactory = _ => 0.01 };
        public readonly Option<float?> Temperature = new("--temperature") { Description = "inner-product scorer: logits are scores / temperature in training (default: the scale the user encoder trained at, 0.1 for a user tower, 1 for a sequence encoder)" };
        public readonly Option<int> Patience = new("--patience") { Description = "stop after this many epochs without a better validation recall@20, 0 for never", DefaultValueFactory = _ => 2 };
        public readonly Option<string> Checkpoints;
        public readonly Option<ulong> Seed = new("--seed") { Description = "seed for initialisation, shuffling and sampling", DefaultValueFactory = _ => 42 };

        /// <param name="frozen">Whether the user tower and the leaves stay as they start unless asked otherwise (<c>--freeze-user false</c>).</param>
        public TrainingFlags(int epochs, string epochsText, string checkpointDir, bool frozen)
        {
            FreezeUser = new("--freeze-user") { Description = "keep the user tower as it starts (from --user-init); train only the nodes and the scorer", DefaultValueFactory = _ => frozen };
            FreezeLeaves = new("--freeze-leaves") { Description = "leave the leaf level untrained: the leaves keep the item vectors they start with and only the route to them is learned", DefaultValueFactory = _ => frozen };
            Epochs = new("--epochs") { Description = epochsText, DefaultValueFactory = _ => epochs };
            Checkpoints = new("--checkpoint-dir", "--checkpoint_dir") { Description = "where checkpoints go", DefaultValueFactory = _ => checkpointDir };
        }

        public void AddTo(Command command)
        {
            foreach (Option o in Data.All) command.Add(o);
            foreach (Option o in new Option[] { Dataset, Mlp, Negatives, NegativeSource, TrainingBeam, FreezeUser, FreezeLeaves, Loss, Beam, Epochs, Batch, Lr, WeightDecay, Temperature, Patience, Checkpoints, Seed })
                command.Add(o);
        }

        public TrainerOptions Trainer(ParseResult r, ModelSelection selectBy, bool resume) => new()
        {
            Epochs = r.GetValue(Epochs), BatchSize = r.GetValue(Batch), LearningRate = r.GetValue(Lr), WeightDecay = r.GetValue(WeightDecay), SelectBy = selectBy,
            Patience = r.GetValue(Patience), CheckpointDir = r.GetValue(Checkpoints)!, Resume = resume, Seed = r.GetValue(Seed),
        };

        public TdmOptions Tdm(ParseResult r, NodeScorerKind scorer, TdmNegatives defaultSource) => new()
        {
            NegativesPerLevel = r.GetValue(Negatives) is { Length: > 0 } n ? n : [scorer == NodeScorerKind.Mlp ? 6 : 50],
            Beam = r.GetValue(Beam),
            TrainingBeam = r.GetValue(TrainingBeam),
            TrainUserTower = !r.GetValue(FreezeUser),
            TrainLeaves = !r.GetValue(FreezeLeaves),
            Negatives = r.GetValue(NegativeSource)?.ToLowerInvariant() switch
            {
                null => defaultSource,
                "uniform" => TdmNegatives.Uniform,
                "beam" => TdmNegatives.Beam,
                "in-batch" or "inbatch" => TdmNegatives.InBatch,
                var s => throw new ArgumentException($"--negative-source: unknown '{s}' (expected uniform, beam or in-batch)"),
            },
            Loss = r.GetValue(Loss)!.ToLowerInvariant() switch
            {
                "softmax" => TdmLoss.Softmax,
                "bce" => TdmLoss.BinaryCrossEntropy,
                var s => throw new ArgumentException($"--loss: unknown '{s}' (expected softmax or bce)"),
            },
        };
    }

    private static NodeScorerKind ParseScorer(string scorer) => scorer.ToLowerInvariant() switch
    {
        "ip" => NodeScorerKind.InnerProduct,
        "mlp" => NodeScorerKind.Mlp,
        var s => throw new ArgumentException($"--scorer: unknown '{s}' (expected ip or mlp)"),
    };

    private static Command Train()
    {
        var flags = new TrainingFlags(5, "passes over the training interactions", "tdm_checkpoints", frozen: false);
        var tree = new Option<string>("--tree", "--tree_data_path") { Description = "tree file from build-tree (its node embeddings initialise the model's)", Required = true };
        var userInit = new Option<string?>("--user-init", "--user_init") { Description = "where the user tower starts: a serving bundle's trained tower, or a TDM checkpoint's (for the second tree, the first tree's model: its leaves and its tower were learned together)" };
        var scorer = new Option<string>("--scorer") { Description = "ip (inner product of user and node) or mlp (MLP over [user, node, user*node])", DefaultValueFactory = _ => "ip" };
        var selectBy = new Option<string>("--select-by", "--select_by") { Description = "what picks best_model: loss or recall (validation recall@20 by beam search)", DefaultValueFactory = _ => "recall" };
        var resume = new Option<bool>("--resume") { Description = "continue from the latest checkpoint in --checkpoint-dir" };
        var bundle = new Option<string?>("--bundle") { Description = "also write a serving bundle of best_model here (searched --beam wide)" };
        var command = new Command("train", "Train a TDM model layer by layer on a data set over an item tree.") { tree, userInit, scorer, selectBy, resume, bundle };
        flags.AddTo(command);
        command.SetAction((r, token) => CliErrors.Guard(() =>
        {
            var selection = r.GetValue(selectBy)!.ToLowerInvariant() switch
            {
                "loss" => ModelSelection.Loss,
                "recall" => ModelSelection.Recall,
                var s => throw new ArgumentException($"--select-by: unknown '{s}' (expected loss or recall)"),
            };
            var kind = ParseScorer(r.GetValue(scorer)!);
            return Task.FromResult(RunTrain(flags.Load(r), r.GetValue(tree)!, r.GetValue(userInit), kind, r.GetValue(flags.Mlp)!,
                r.GetValue(flags.Temperature) ?? 0.1f, flags.Trainer(r, selection, r.GetValue(resume)), flags.Tdm(r, kind, TdmNegatives.Uniform), r.GetValue(bundle), token));
        }));
        return command;
    }

    private static Command Fit()
    {
        var flags = new TrainingFlags(2, "passes over the training interactions in each stage", "tdm_fit", frozen: true);
        var userInit = new Option<string>("--user-init", "--user_init") { Description = "the two-tower or sequence bundle whose item vectors make the first tree and whose user encoder starts the model (a sequence encoder stays frozen)", Required = true };
        var bundle = new Option<string>("--bundle") { Description = "where to write the serving bundle of the best stage", Required = true };
        var rounds = new Option<int>("--rounds") { Description = "tree-learning rounds after the first tree: learn a tree from the model, train on it", DefaultValueFactory = _ => 1 };
        var nextTree = new Option<string>("--next-tree") { Description = "how each next tree is found: learn (JTM's tree step from the trained model) or recluster (balanced k-means on its leaf embeddings, the design note's way)", DefaultValueFactory = _ => "learn" };
        var levelGap = new Option<int>("--level-gap") { Description = "levels an item moves down per tree-learning step (it chooses among branch^gap descendants)", DefaultValueFactory = _ => 1 };
        var scorer = new Option<string>("--scorer") { Description = "ip, or mlp (a stage trains an MLP scorer on every level from the best inner-product model and keeps it if it validates better)", DefaultValueFactory = _ => "ip" };
        var branch = new Option<int>("--branch") { Description = "children per node", DefaultValueFactory = _ => 2 };
        var leafDefaults = new LeafScorerOptions();
        var leafMlp = new Option<int[]>("--leaf-mlp") { Description = "hidden sizes of the MLP a last stage trains to rank the leaves the best inner-product model's beam reaches, on the validation users' held-out items; 0 for no such stage", DefaultValueFactory = _ => leafDefaults.Hidden, AllowMultipleArgumentsPerToken = true };
        var leafEpochs = new Option<int>("--leaf-epochs") { Description = "the most passes the leaf MLP trains; a two-fold cross-fit over the validation users picks how many it gets", DefaultValueFactory = _ => leafDefaults.MaxEpochs };
        var command = new Command("fit", "The whole TDM workflow: tree from the two-tower's (or sequence model's) item vectors, train, learn the tree, train again, learn an MLP that ranks the leaves the beam reaches, write a bundle of the stage that validates best.")
        {
            userInit, bundle, rounds, nextTree, levelGap, scorer, branch, leafMlp, leafEpochs,
        };
        flags.AddTo(command);
        command.SetAction((r, token) => CliErrors.Guard(() =>
        {
            var kind = ParseScorer(r.GetValue(scorer)!);
            var options = new TdmFitOptions
            {
                Trainer = flags.Trainer(r, ModelSelection.Recall, resume: false),
                Tdm = flags.Tdm(r, NodeScorerKind.InnerProduct, TdmNegatives.InBatch),
                Tree = new TreeBuildOptions { Branch = r.GetValue(branch), Seed = r.GetValue(flags.Seed) },
                NextTree = r.GetValue(nextTree)!.ToLowerInvariant() switch
                {
                    "learn" => NextTree.Learn,
                    "recluster" => NextTree.Recluster,
                    var s => throw new ArgumentException($"--next-tree: unknown '{s}' (expected learn or recluster)"),
                },
                Learning = new TreeLearningOptions { LevelGap = r.GetValue(levelGap) },
                Rounds = r.GetValue(rounds),
                Temperature = r.GetValue(flags.Temperature),
                MlpHidden = kind == NodeScorerKind.Mlp ? r.GetValue(flags.Mlp)! : [],
                LeafScorer = r.GetValue(leafMlp) is [0] ? null : new LeafScorerOptions { Hidden = r.GetValue(leafMlp)!, MaxEpochs = r.GetValue(leafEpochs) },
            };
            return Task.FromResult(RunFit(flags.Load(r), r.GetValue(userInit)!, r.GetValue(bundle)!, options, token));
        }));
        return command;
    }

    private static int RunFit(InteractionDataset loaded, string userInit, string bundle, TdmFitOptions options, CancellationToken token)
    {
        var total = Stopwatch.StartNew();
        var data = RecDataset.FromInteractions(loaded);
        AnsiConsole.MarkupLineInterpolated($"Loaded {loaded.Describe()}");
        var (user, itemVectors) = StartingUserEncoder(userInit, loaded, data);
        var (model, tree, stages) = TdmFit.Run(data, user, itemVectors, options, t => RunLog.Trace(t, RunLog.Config(("data", loaded.Name), ("fit", options)), token),
            line => AnsiConsole.MarkupLineInterpolated($"[bold]{line}[/]"), token);
        BundleCommand.WriteTdm(bundle, model, tree, options.Tdm.Beam, loaded, data);
        foreach (var s in stages)
            AnsiConsole.MarkupLineInterpolated($"  {s.Name,-8} validation Recall@{TdmTrainer.SelectionK} {s.ValidationRecall:F4} (epoch {s.BestEpoch}), {s.Seconds:F1} s");
        AnsiConsole.MarkupLineInterpolated($"Serving bundle written to {Path.GetFullPath(bundle)}; [bold]done[/] in {total.Elapsed.TotalSeconds:F1} s");
        return 0;
    }

    private static int RunTrain(InteractionDataset loaded, string treePath, string? userInit, NodeScorerKind scorer, int[] mlp, float temperature,
        TrainerOptions trainerOptions, TdmOptions tdmOptions, string? bundle, CancellationToken token)
    {
        var total = Stopwatch.StartNew();
        var data = RecDataset.FromInteractions(loaded);
        AnsiConsole.MarkupLineInterpolated($"Loaded {loaded.Describe()}");
        var tree = ItemTree.Load(treePath);
        if (tree.ItemCount != data.ItemCount)
            throw new ArgumentException($"{treePath}: the tree has {tree.ItemCount:N0} leaves but {loaded.Name} has {data.ItemCount:N0} items (was it built from this data set's item embeddings?)");

        UserTower? initTower = null;
        TowerConfig userConfig;
        if (userInit is not null)
        {
            (initTower, userConfig) = File.Exists(userInit) ? TowerOf(TdmCheckpoint.Load(userInit).Model) : ServingBundle.LoadUserTower(userInit);
            CheckTowerFits(userInit, userConfig, loaded, data);
            if (userConfig.EmbeddingDim != tree.Dimension)
                throw new ArgumentException($"--user-init {userInit}: its user tower makes {userConfig.EmbeddingDim}-d vectors, the tree's nodes are {tree.Dimension}-d");
        }
        else
        {
            var d = DatasetDefaults.Interactions;   // real interaction data: what train starts a bag tower from
            userConfig = new TowerConfig
            {
                NumUsers = data.UserCount, NumItems = data.ItemCount, UserFeatures = data.UserFeatures.Cols, ItemFeatures = data.Items.FeatureCount,
                Categories = data.Items.CategoryCount, Tags = data.Items.TagCount, EmbeddingDim = tree.Dimension, Hidden = d.Hidden, Dropout = d.Dropout,
                HistoryLength = d.HistoryLength, RecentLength = data.Chronological ? d.RecentLength : 0,
            };
        }
        var config = new TdmConfig { User = userConfig, Nodes = tree.NodeCount, Scorer = scorer, MlpHidden = mlp, Temperature = temperature };
        var model = new TdmModel(config, new Rng(trainerOptions.Seed ^ 0x7D3UL));
        tree.Embeddings.Span.CopyTo(model.Nodes.Weight.Value.Span);
        if (initTower is not null) model.User!.LoadStateDict(initTower.StateDict());
        var trainer = new TdmTrainer(model, tree, data, trainerOptions, tdmOptions);
        string scorerText = scorer == NodeScorerKind.Mlp ? $"MLP {3 * config.Dimension}→{string.Join("→", mlp)}→1" : $"inner product (τ {temperature})";
        AnsiConsole.MarkupLineInterpolated($"TDM over {treePath}: {tree.NodeCount:N0} nodes on {tree.LevelCount} levels; scorer {scorerText}; {model.ParameterCount:N0} parameters; user tower {(initTower is null ? "from scratch" : $"from {userInit}")}");
        if (trainerOptions.Resume) AnsiConsole.MarkupLineInterpolated($"Resumed from {trainer.ResumeFromLatest()} ({trainer.CompletedEpochs} epochs done)");
        RunLog.Trace(trainer, RunLog.Config(("data", loaded.Name), ("tree", treePath), ("model", config), ("trainer", trainerOptions), ("tdm", tdmOptions)), token);
        string criterion = trainerOptions.SelectBy == ModelSelection.Recall ? $"validation recall@{TdmTrainer.SelectionK} (beam {tdmOptions.Beam})" : "validation loss";
        if (trainer.StoppedEarly) AnsiConsole.MarkupLineInterpolated($"Stopped early: no better {criterion} for {trainerOptions.Patience} epochs");
        AnsiConsole.MarkupLineInterpolated($"best_model is epoch {trainer.BestEpoch} (by {criterion}): {trainer.CheckpointPath("best_model")}");
        if (bundle is not null)
        {
            trainer.RestoreBest();
            BundleCommand.WriteTdm(bundle, model, tree, tdmOptions.Beam, loaded, data);
            AnsiConsole.MarkupLineInterpolated($"Serving bundle of best_model saved to {Path.GetFullPath(bundle)}");
        }
        AnsiConsole.MarkupLineInterpolated($"[bold]done[/] in {total.Elapsed.TotalSeconds:F1} s");
        return 0;
    }

    /// <summary>
    /// The user encoder a fit starts from and the item vectors of its first tree: a two-tower bundle's user tower, or a
    /// sequence bundle's encoder (which then stays frozen) with its item table.
    /// </summary>
    private static (Module User, Tensor ItemVectors) StartingUserEncoder(string userInit, InteractionDataset loaded, RecDataset data)
    {
        if (ServingBundle.ReadKind(userInit) == BundleKind.Sequence)
        {
            var (encoder, items, users) = ServingBundle.LoadSequenceEncoder(userInit);
            if (users != data.UserCount || encoder.Config.NumItems != data.ItemCount)
                throw new ArgumentException($"--user-init {userInit}: its sequence encoder was trained for {users:N0} users and {encoder.Config.NumItems:N0} items, {loaded.Name} has {data.UserCount:N0} and {data.ItemCount:N0}");
            return (SequenceUser.From(encoder, items), items);
        }
        var (tower, config) = ServingBundle.LoadUserTower(userInit);
        CheckTowerFits(userInit, config, loaded, data);
        return (tower, ServingBundle.LoadItemVectors(userInit, data.ItemCount, config.EmbeddingDim));
    }

    /// <summary>Refuses a <c>--user-init</c> tower trained for another data set's users or items.</summary>
    private static void CheckTowerFits(string userInit, TowerConfig config, InteractionDataset loaded, RecDataset data)
    {
        if (config.NumUsers != data.UserCount || config.NumItems != data.ItemCount || config.UserFeatures != data.UserFeatures.Cols)
            throw new ArgumentException($"--user-init {userInit}: its user tower was trained for {config.NumUsers:N0} users and {config.NumItems:N0} items, {loaded.Name} has {data.UserCount:N0} and {data.ItemCount:N0}");
    }

    private static (UserTower, TowerConfig) TowerOf(TdmModel model) =>
        model.User is { } tower ? (tower, tower.Config) : throw new ArgumentException("--user-init: the TDM checkpoint's user encoder is a sequence encoder; tdm train starts from a user tower (tdm fit takes a sequence bundle)");

    private static Command GetLeaf()
    {
        var model = new Option<string>("--model", "--best_model_pth") { Description = "TDM checkpoint (best_model.safetensors)", Required = true };
        var output = new Option<string>("--output") { Description = "where to write the leaf embeddings [items x dim] (.npy), row i = item i", DefaultValueFactory = _ => "leaf_emb.npy" };
        var dataset = new Option<string?>("--dataset") { Description = "with --data: the data set the model was trained on, so that <output>.ids.json names each row's item by its own id" };
        var data = new DataOptions();
        var command = new Command("get-leaf", "Export a trained TDM model's leaf (item) embeddings, to build the next tree from (and, given the data, each row's item id).") { model, output, dataset };
        foreach (var o in data.All) command.Add(o);
        command.SetAction((r, token) => CliErrors.Guard(() =>
        {
            var (m, tree, info) = TdmCheckpoint.Load(r.GetValue(model)!);
            var leaves = tree.LeafEmbeddings(m.Nodes.Weight.Value);
            string path = r.GetValue(output)!;
            // The rows are item rows of the data the model was trained on: that data, read the same way, names them.
            Data.IdMap? ids = null;
            if (r.GetValue(data.Data) is { } dataPath)
            {
                string format = DataOptions.RequireDataset(r.GetValue(dataset), dataPath);
                ids = Data.DatasetLoaders.Load(format, dataPath, data.Format(r)).ItemIds;
                if (ids.Count != leaves.Rows) throw new ArgumentException($"{dataPath} has {ids.Count:N0} items but the model's tree has {leaves.Rows:N0}: not the data it was trained on");
            }
            Npy.Write(path, leaves);
            AnsiConsole.MarkupLineInterpolated($"Wrote {leaves.Rows:N0} x {leaves.Cols} leaf embeddings (epoch {info.CompletedEpochs}) to {path}");
            if (ids is not null)
            {
                string idsPath = Path.ChangeExtension(path, ".ids.json");
                ids.SaveJson(idsPath);
                AnsiConsole.MarkupLineInterpolated($"Wrote each row's item id to {idsPath}");
            }
            return Task.FromResult(0);
        }));
        return command;
    }
}
