using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Spectre.Console;
using VectorRecall.Data;
using VectorRecall.IO;
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
        return tdm;
    }

    private static Command BuildTree()
    {
        var mode = new Option<string>("--mode") { Description = "kmeans (balanced k-means, also by_kmeans), random or category (ablations)", DefaultValueFactory = _ => "kmeans" };
        var input = new Option<string>("--input") { Description = "item embeddings [items x dim], row i = item i (.npy, .fvecs)", Required = true };
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

    private static Command Train()
    {
        var dataset = new Option<string>("--dataset") { Description = $"the data set: {string.Join(", ", DatasetLoaders.Names)}", Required = true };
        var dataDir = new Option<string>("--data-dir", "--data_dir") { Description = "its folder or file", Required = true };
        var tree = new Option<string>("--tree", "--tree_data_path") { Description = "tree file from build-tree (its node embeddings initialise the model's)", Required = true };
        var userInit = new Option<string?>("--user-init", "--user_init") { Description = "where the user tower starts: a serving bundle's trained tower, or a TDM checkpoint's (for the second tree, the first tree's model: its leaves and its tower were learned together)" };
        var scorer = new Option<string>("--scorer") { Description = "ip (inner product of user and node) or mlp (MLP over [user, node, user*node])", DefaultValueFactory = _ => "ip" };
        var mlp = new Option<int[]>("--mlp") { Description = "hidden sizes of the MLP scorer", DefaultValueFactory = _ => [400, 200, 100], AllowMultipleArgumentsPerToken = true };
        var negatives = new Option<int[]>("--negatives") { Description = "negatives per level: one count, or one per level 1..depth (default 50 for ip, where they cost a dot product each; 6 for mlp)", AllowMultipleArgumentsPerToken = true };
        var loss = new Option<string>("--loss") { Description = "softmax (over each level's positive and negatives) or bce", DefaultValueFactory = _ => "softmax" };
        var beam = new Option<int>("--beam") { Description = "beam width for the validation recall", DefaultValueFactory = _ => 100 };
        var epochs = new Option<int>("--epochs") { Description = "passes over the training interactions", DefaultValueFactory = _ => 5 };
        var batch = new Option<int>("--batch-size", "--batch_size") { Description = "interactions per step", DefaultValueFactory = _ => 256 };
        var lr = new Option<double>("--lr") { Description = "peak learning rate (AdamW; warmup then cosine decay)", DefaultValueFactory = _ => 3e-3 };
        var weightDecay = new Option<double>("--weight-decay", "--weight_decay") { Description = "AdamW's decoupled weight decay", DefaultValueFactory = _ => 0.01 };
        var temperature = new Option<float>("--temperature") { Description = "inner-product scorer: logits are scores / temperature in training", DefaultValueFactory = _ => 0.1f };
        var selectBy = new Option<string>("--select-by", "--select_by") { Description = "what picks best_model: loss or recall (validation recall@20 by beam search)", DefaultValueFactory = _ => "recall" };
        var patience = new Option<int>("--patience") { Description = "stop after this many epochs without a better selection score, 0 for never", DefaultValueFactory = _ => 2 };
        var checkpoints = new Option<string>("--checkpoint-dir", "--checkpoint_dir", "--ckpt-dir") { Description = "where checkpoints go", DefaultValueFactory = _ => "tdm_checkpoints" };
        var resume = new Option<bool>("--resume") { Description = "continue from the latest checkpoint in --checkpoint-dir" };
        var seed = new Option<ulong>("--seed") { Description = "seed for initialisation, shuffling and sampling", DefaultValueFactory = _ => 42 };
        var bundle = new Option<string?>("--bundle") { Description = "also write a serving bundle of best_model here (searched --beam wide)" };
        var command = new Command("train", "Train a TDM model layer by layer on a data set over an item tree.")
        {
            dataset, dataDir, tree, userInit, scorer, mlp, negatives, loss, beam, epochs, batch, lr, weightDecay, temperature, selectBy, patience, checkpoints, resume, seed, bundle,
        };
        command.SetAction((r, token) => CliErrors.Guard(() =>
        {
            var trainer = new TrainerOptions
            {
                Epochs = r.GetValue(epochs), BatchSize = r.GetValue(batch), LearningRate = r.GetValue(lr), WeightDecay = r.GetValue(weightDecay),
                SelectBy = r.GetValue(selectBy)!.ToLowerInvariant() switch
                {
                    "loss" => ModelSelection.Loss,
                    "recall" => ModelSelection.Recall,
                    var s => throw new ArgumentException($"--select-by: unknown '{s}' (expected loss or recall)"),
                },
                Patience = r.GetValue(patience), CheckpointDir = r.GetValue(checkpoints)!, Resume = r.GetValue(resume), Seed = r.GetValue(seed),
            };
            var tdm = new TdmOptions
            {
                NegativesPerLevel = r.GetValue(negatives) is { Length: > 0 } n ? n : [r.GetValue(scorer)!.Equals("mlp", StringComparison.OrdinalIgnoreCase) ? 6 : 50],
                Beam = r.GetValue(beam),
                Loss = r.GetValue(loss)!.ToLowerInvariant() switch
                {
                    "softmax" => TdmLoss.Softmax,
                    "bce" => TdmLoss.BinaryCrossEntropy,
                    var s => throw new ArgumentException($"--loss: unknown '{s}' (expected softmax or bce)"),
                },
            };
            var kind = r.GetValue(scorer)!.ToLowerInvariant() switch
            {
                "ip" => NodeScorerKind.InnerProduct,
                "mlp" => NodeScorerKind.Mlp,
                var s => throw new ArgumentException($"--scorer: unknown '{s}' (expected ip or mlp)"),
            };
            return Task.FromResult(RunTrain(r.GetValue(dataset)!, r.GetValue(dataDir)!, r.GetValue(tree)!, r.GetValue(userInit), kind, r.GetValue(mlp)!,
                r.GetValue(temperature), trainer, tdm, r.GetValue(bundle), token));
        }));
        return command;
    }

    private static int RunTrain(string datasetName, string dataDir, string treePath, string? userInit, NodeScorerKind scorer, int[] mlp, float temperature,
        TrainerOptions trainerOptions, TdmOptions tdmOptions, string? bundle, CancellationToken token)
    {
        var total = Stopwatch.StartNew();
        var loaded = DatasetLoaders.Load(datasetName, dataDir);
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
            if (userConfig.NumUsers != data.UserCount || userConfig.NumItems != data.ItemCount || userConfig.UserFeatures != data.UserFeatures.Cols)
                throw new ArgumentException($"--user-init {userInit}: its user tower was trained for {userConfig.NumUsers:N0} users and {userConfig.NumItems:N0} items, {loaded.Name} has {data.UserCount:N0} and {data.ItemCount:N0}");
            if (userConfig.EmbeddingDim != tree.Dimension)
                throw new ArgumentException($"--user-init {userInit}: its user tower makes {userConfig.EmbeddingDim}-d vectors, the tree's nodes are {tree.Dimension}-d");
        }
        else
        {
            var d = DatasetDefaults.For(datasetName);
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
        if (initTower is not null) model.User.LoadStateDict(initTower.StateDict());
        var trainer = new TdmTrainer(model, tree, data, trainerOptions, tdmOptions);
        string scorerText = scorer == NodeScorerKind.Mlp ? $"MLP {3 * config.Dimension}→{string.Join("→", mlp)}→1" : $"inner product (τ {temperature})";
        AnsiConsole.MarkupLineInterpolated($"TDM over {treePath}: {tree.NodeCount:N0} nodes on {tree.LevelCount} levels; scorer {scorerText}; {model.ParameterCount:N0} parameters; user tower {(initTower is null ? "from scratch" : $"from {userInit}")}");
        if (trainerOptions.Resume) AnsiConsole.MarkupLineInterpolated($"Resumed from {trainer.ResumeFromLatest()} ({trainer.CompletedEpochs} epochs done)");
        TrainingProgress.Run(trainer, token);
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

    private static (UserTower, TowerConfig) TowerOf(TdmModel model) => (model.User, model.Config.User);

    private static Command GetLeaf()
    {
        var model = new Option<string>("--model", "--best_model_pth") { Description = "TDM checkpoint (best_model.safetensors)", Required = true };
        var output = new Option<string>("--out", "--output") { Description = "where to write the leaf embeddings [items x dim] (.npy), row i = item i", DefaultValueFactory = _ => "leaf_emb.npy" };
        var command = new Command("get-leaf", "Export a trained TDM model's leaf (item) embeddings, to build the next tree from.") { model, output };
        command.SetAction((r, token) => CliErrors.Guard(() =>
        {
            var (m, tree, info) = TdmCheckpoint.Load(r.GetValue(model)!);
            var leaves = tree.LeafEmbeddings(m.Nodes.Weight.Value);
            Npy.Write(r.GetValue(output)!, leaves);
            AnsiConsole.MarkupLineInterpolated($"Wrote {leaves.Rows:N0} x {leaves.Cols} leaf embeddings (epoch {info.CompletedEpochs}) to {r.GetValue(output)}");
            return Task.FromResult(0);
        }));
        return command;
    }
}
