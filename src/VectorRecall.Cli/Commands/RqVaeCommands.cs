using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Spectre.Console;
using VectorRecall.Numerics;
using VectorRecall.Optim;
using VectorRecall.SemanticIds;
using VectorRecall.Serving;
using VectorRecall.Training;

namespace VectorRecall.Cli.Commands;

/// <summary>
/// <c>vrecall rqvae</c>: the design note's index module — <c>train</c> an RQ-VAE on item vectors,
/// <c>generate</c> collision-free semantic ids to JSON, <c>evaluate</c> a checkpoint (or an id file)
/// by collision rate, codebook utilisation and reconstruction error. <c>vrecall eval --retriever semantic</c>
/// ranks items by walking the ids' trie.
/// </summary>
internal static class RqVaeCommands
{
    public static Command Create()
    {
        var rqvae = new Command("rqvae", "Semantic ids: train an RQ-VAE on item vectors, generate collision-free ids, evaluate them.");
        rqvae.Add(Train());
        rqvae.Add(Generate());
        rqvae.Add(Evaluate());
        return rqvae;
    }

    private static Command Train()
    {
        var dataPath = new Option<string>("--data", "--data_path") { Description = ".npy of item vectors [num_items, dim] (float32)", Required = true };
        var ckptDir = new Option<string>("--checkpoint-dir", "--ckpt_dir") { Description = "checkpoints go to a time-stamped folder under this", DefaultValueFactory = _ => "rqvae_checkpoints" };
        var lr = new Option<double>("--lr") { Description = "learning rate (AdamW)", DefaultValueFactory = _ => 1e-3 };
        var weightDecay = new Option<double>("--weight-decay", "--weight_decay") { Description = "AdamW's decoupled weight decay", DefaultValueFactory = _ => 1e-4 };
        var epochs = new Option<int>("--epochs") { Description = "passes over the items", DefaultValueFactory = _ => 200 };
        var batch = new Option<int>("--batch-size", "--batch_size") { Description = "items per step", DefaultValueFactory = _ => 1024 };
        var evalStep = new Option<int>("--eval-step", "--eval_step") { Description = "every this many epochs: collision rate, utilisation, checkpoints", DefaultValueFactory = _ => 50 };
        var schedule = new Option<string>("--lr-scheduler-type", "--lr_scheduler_type") { Description = "constant, linear or cosine (after the warm-up)", DefaultValueFactory = _ => "constant" };
        var warmup = new Option<int>("--warmup-epochs", "--warmup_epochs") { Description = "linear warm-up epochs", DefaultValueFactory = _ => 50 };
        var layers = new Option<int[]>("--layers") { Description = "encoder hidden sizes (the decoder mirrors them)", DefaultValueFactory = _ => [2048, 1024, 512, 256, 128, 64], AllowMultipleArgumentsPerToken = true };
        var eDim = new Option<int>("--e-dim", "--e_dim") { Description = "latent (codeword) dimension", DefaultValueFactory = _ => 32 };
        var numEmb = new Option<int[]>("--num-emb-list", "--num_emb_list") { Description = "codebook size per level (the list's length is the number of levels)", DefaultValueFactory = _ => [256, 256, 256], AllowMultipleArgumentsPerToken = true };
        var dropout = new Option<float>("--dropout", "--dropout-prob", "--dropout_prob") { Description = "dropout before each hidden Linear", DefaultValueFactory = _ => 0f };
        var bn = new Option<bool>("--bn") { Description = "batch norm after each hidden Linear (true/false) [default: false]", DefaultValueFactory = _ => false };
        var lossType = new Option<string>("--loss-type", "--loss_type") { Description = "reconstruction loss: mse or l1", DefaultValueFactory = _ => "mse" };
        var quantWeight = new Option<float>("--quant-loss-weight", "--quant_loss_weight") { Description = "weight of the quantisation loss", DefaultValueFactory = _ => 1f };
        var beta = new Option<float>("--beta") { Description = "commitment loss weight within the quantisation loss", DefaultValueFactory = _ => 0.25f };
        var kmeansInit = new Option<bool>("--kmeans-init", "--kmeans_init") { Description = "initialise the codebooks by k-means on each level's residuals (true/false)", DefaultValueFactory = _ => true };
        var largeScale = new Option<bool>("--large-scale-kmeans", "--large_scale_kmeans") { Description = "k-means on a random sample of up to 20,000 items instead of the first batch (true/false)", DefaultValueFactory = _ => true };
        var kmeansIters = new Option<int>("--kmeans-iters", "--kmeans_iters") { Description = "k-means iterations per level, at most", DefaultValueFactory = _ => 100 };
        var reseed = new Option<bool>("--reseed-dead-codes", "--reseed_dead_codes") { Description = "after each epoch, re-seed codewords no item chose with residuals of a random batch (true/false)", DefaultValueFactory = _ => true };
        var skEpsilons = new Option<float[]>("--sk-epsilons", "--sk_epsilons") { Description = "Sinkhorn epsilon per level in training (0: nearest codeword) [default: 0 at every level]", AllowMultipleArgumentsPerToken = true };
        var skIters = new Option<int>("--sk-iters", "--sk_iters") { Description = "Sinkhorn-Knopp iterations", DefaultValueFactory = _ => 50 };
        var saveLimit = new Option<int>("--save-limit", "--save_limit") { Description = "most recent epoch checkpoints kept", DefaultValueFactory = _ => 5 };
        var seed = new Option<ulong>("--seed") { Description = "seed for initialisation and shuffling", DefaultValueFactory = _ => 42 };
        var command = new Command("train", "Train an RQ-VAE on item vectors; checkpoints best_model (training loss), best_collision, best_utilization and the latest epochs.")
        {
            dataPath, ckptDir, lr, weightDecay, epochs, batch, evalStep, schedule, warmup, layers, eDim, numEmb, dropout, bn, lossType,
            quantWeight, beta, kmeansInit, largeScale, kmeansIters, reseed, skEpsilons, skIters, saveLimit, seed,
        };
        command.SetAction((r, token) => CliErrors.Guard(() =>
        {
            var levels = r.GetValue(numEmb)!;
            var eps = r.GetValue(skEpsilons) is { Length: > 0 } given ? given : new float[levels.Length];
            var config = new RqVaeConfig
            {
                Layers = r.GetValue(layers)!, EDim = r.GetValue(eDim), NumEmbList = levels, Dropout = r.GetValue(dropout), BatchNorm = r.GetValue(bn),
                LossType = r.GetValue(lossType)!.ToLowerInvariant() switch
                {
                    "mse" => ReconstructionLoss.Mse,
                    "l1" => ReconstructionLoss.L1,
                    var other => throw new ArgumentException($"--loss-type: unknown '{other}' (expected mse or l1)"),
                },
                QuantLossWeight = r.GetValue(quantWeight), Beta = r.GetValue(beta), SkEpsilons = eps, SkIters = r.GetValue(skIters),
            };
            int epochCount = r.GetValue(epochs);
            var options = RqVaeTrainerOptions.Loop() with
            {
                Epochs = epochCount, BatchSize = r.GetValue(batch), LearningRate = r.GetValue(lr), WeightDecay = r.GetValue(weightDecay),
                Schedule = r.GetValue(schedule)!.ToLowerInvariant() switch
                {
                    "constant" => ScheduleKind.Constant,
                    "linear" => ScheduleKind.Linear,
                    "cosine" => ScheduleKind.Cosine,
                    var other => throw new ArgumentException($"--lr-scheduler-type: unknown '{other}' (expected constant, linear or cosine)"),
                },
                WarmupFraction = RqVaeTrainerOptions.WarmupFraction(r.GetValue(warmup), epochCount), SaveEvery = r.GetValue(evalStep), SaveLimit = r.GetValue(saveLimit),
                Seed = r.GetValue(seed), CheckpointDir = RqVaeTrainer.NewRunDirectory(r.GetValue(ckptDir)!),
            };
            if (r.GetValue(warmup) < 0) throw new ArgumentException($"--warmup-epochs must be >= 0, got {r.GetValue(warmup)}");
            var rq = new RqVaeTrainerOptions
            {
                KMeansInit = r.GetValue(kmeansInit), LargeScaleKMeans = r.GetValue(largeScale), KMeansIters = r.GetValue(kmeansIters), ReseedDeadCodes = r.GetValue(reseed),
            };
            return Task.FromResult(RunTrain(r.GetValue(dataPath)!, config, options, rq, r.GetValue(warmup), token));
        }));
        return command;
    }

    private static int RunTrain(string dataPath, RqVaeConfig config, TrainerOptions options, RqVaeTrainerOptions rq, int warmupEpochs, CancellationToken token)
    {
        var items = ItemEmbeddings.Load(dataPath);
        config = config with { InDim = items.Cols };
        config.Validate();
        options.Validate();
        var model = new RqVae(config, new Rng(options.Seed));
        var trainer = new RqVaeTrainer(model, items, options, rq, dataPath);
        AnsiConsole.MarkupLineInterpolated($"RQ-VAE on {items.Rows:N0} x {items.Cols} item vectors from {dataPath}: layers [[{string.Join(", ", config.Layers)}]], e_dim {config.EDim}, codebooks [[{string.Join(", ", config.NumEmbList)}]], {model.ParameterCount:N0} parameters");
        AnsiConsole.MarkupLineInterpolated($"{options.Epochs} epochs of {trainer.StepsPerEpoch} steps (batch {options.BatchSize}, lr {options.LearningRate:G3} {options.Schedule.ToString().ToLowerInvariant()}, warm-up {Math.Min(warmupEpochs, options.Epochs)} epochs); run folder {options.CheckpointDir}");
        trainer.Status = s => AnsiConsole.MarkupLineInterpolated($"{s}");
        var clock = Stopwatch.StartNew();
        RunLog.Trace(trainer, RunLog.Config(("data", dataPath), ("model", config), ("trainer", options), ("rqvae", rq)), token, checkpointEpochsOnly: true);
        AnsiConsole.MarkupLineInterpolated($"Done in {clock.Elapsed.TotalSeconds:F1} s; log in {trainer.LogPath}, report in {Path.Combine(options.CheckpointDir, RunReport.ReportFile)}");
        return 0;
    }

    private static Command Generate()
    {
        var ckpt = new Option<string>("--ckpt", "--ckpt-path", "--ckpt_path") { Description = "RQ-VAE checkpoint (.safetensors)", Required = true };
        var outputFile = new Option<string>("--output-file", "--output_file") { Description = "JSON to write: {item_id: [\"<a_0>\", \"<b_12>\", ...]}", Required = true };
        var outputDir = new Option<string?>("--output-dir", "--output_dir") { Description = "folder for --output-file (created when missing)" };
        var dataPath = new Option<string?>("--data", "--data_path") { Description = "item vectors (default: the ones the checkpoint was trained on)" };
        var rounds = new Option<int>("--max-rounds", "--max_rounds") { Description = "rounds of Sinkhorn re-assignment of colliding groups on the last level", DefaultValueFactory = _ => 20 };
        var epsilon = new Option<float?>("--sk-epsilon", "--sk_epsilon") { Description = $"last level's Sinkhorn epsilon in those rounds (default: the trained one, or {SemanticIdGenerator.DefaultEpsilon})" };
        var command = new Command("generate", "Semantic ids for all items, collisions resolved by Sinkhorn and, if need be, an extra level; written as JSON.")
        {
            ckpt, outputFile, outputDir, dataPath, rounds, epsilon,
        };
        command.SetAction((r, token) => CliErrors.Guard(() =>
        {
            string output = r.GetValue(outputDir) is { } dir ? Path.Combine(dir, r.GetValue(outputFile)!) : r.GetValue(outputFile)!;
            return Task.FromResult(RunGenerate(r.GetValue(ckpt)!, output, r.GetValue(dataPath), r.GetValue(rounds), r.GetValue(epsilon)));
        }));
        return command;
    }

    /// <summary>A checkpoint and the item vectors to encode: <paramref name="dataPath"/>, or the path the checkpoint records.</summary>
    private static (RqVae Model, Tensor Items, string DataPath) LoadWithData(string ckpt, string? dataPath)
    {
        var (model, info, trainedOn) = RqVaeCheckpoint.Load(ckpt);
        string path = dataPath ?? trainedOn ?? throw new ArgumentException($"{ckpt} does not record its training data: give --data");
        var items = ItemEmbeddings.Load(path);
        RqVaeCheckpoint.CheckData(model, items, ckpt, path);
        AnsiConsole.MarkupLineInterpolated($"{ckpt}: epoch {info.CompletedEpochs}, codebooks [[{string.Join(", ", model.Config.NumEmbList)}]]; {items.Rows:N0} items from {path}");
        return (model, items, path);
    }

    private static int RunGenerate(string ckpt, string output, string? dataPath, int rounds, float? epsilon)
    {
        if (rounds < 0) throw new ArgumentException($"--max-rounds must be >= 0, got {rounds}");
        if (epsilon is { } e && !(e > 0)) throw new ArgumentException($"--sk-epsilon must be positive, got {e}");
        var (model, items, path) = LoadWithData(ckpt, dataPath);
        // Item vectors from a bundle: the ids file is keyed by the bundle's item ids, else by row.
        string? bundle = Path.GetDirectoryName(Path.GetFullPath(path));
        var itemIds = bundle is not null && File.Exists(Path.Combine(bundle, ServingBundle.ManifestFile)) ? ServingBundle.LoadItemIds(bundle) : null;
        if (itemIds is not null && itemIds.Count != items.Rows) throw new ArgumentException($"{path}: {items.Rows:N0} item vectors but its bundle maps {itemIds.Count:N0} item ids");
        var clock = Stopwatch.StartNew();
        var (codes, report) = SemanticIdGenerator.Generate(model, items, rounds, epsilon);
        AnsiConsole.MarkupLineInterpolated($"Collision rate before resolution: {report.CollisionRateBefore:P3} ({report.CollidingGroupsBefore:N0} groups share a code)");
        AnsiConsole.MarkupLineInterpolated($"After {report.Rounds} Sinkhorn round(s) on the last level: {report.CollisionRateAfterSinkhorn:P3}");
        if (report.ExtraLevelSize > 0)
            AnsiConsole.MarkupLineInterpolated($"Extra level added for the rest: up to {report.ExtraLevelSize} items shared a code");
        AnsiConsole.MarkupLineInterpolated($"Final ids: {codes.Levels} levels, collision rate {report.FinalCollisionRate:P3}, {codes.DistinctCount:N0} distinct ids for {codes.Count:N0} items ({clock.Elapsed.TotalSeconds:F2} s)");
        PrintUtilization(codes);
        string? dir = Path.GetDirectoryName(Path.GetFullPath(output));
        if (dir is not null) Directory.CreateDirectory(dir);
        SemanticIdFile.Write(output, codes, itemIds);
        AnsiConsole.MarkupLineInterpolated($"ids written to {output}{(itemIds is null ? " (keyed by item row)" : " (keyed by the bundle's item ids)")}");
        return 0;
    }

    private static void PrintUtilization(SemanticCodes codes)
    {
        for (int l = 0; l < codes.Levels; l++)
            AnsiConsole.MarkupLineInterpolated($"  level {l}: {codes.UsedCodes(l)} of {codes.CodebookSizes[l]} codes used ({codes.Utilization(l):P1})");
    }

    private static Command Evaluate()
    {
        var ckpt = new Option<string?>("--ckpt", "--ckpt-path", "--ckpt_path") { Description = "RQ-VAE checkpoint to evaluate" };
        var dataPath = new Option<string?>("--data", "--data_path") { Description = "item vectors (default: the ones the checkpoint was trained on)" };
        var ids = new Option<string?>("--ids") { Description = "instead of a checkpoint: an id file (JSON) to measure" };
        var codebook = new Option<int>("--codebook-size", "--codebook_size") { Description = "with --ids: codebook size per level for utilisation", DefaultValueFactory = _ => 256 };
        var command = new Command("evaluate", "Collision rate, per-level codebook utilisation and reconstruction error of a checkpoint (or an id file's collisions and utilisation).")
        {
            ckpt, dataPath, ids, codebook,
        };
        command.SetAction((r, token) => CliErrors.Guard(() => Task.FromResult(RunEvaluate(r.GetValue(ckpt), r.GetValue(dataPath), r.GetValue(ids), r.GetValue(codebook)))));
        return command;
    }

    private static int RunEvaluate(string? ckpt, string? dataPath, string? idsPath, int codebookSize)
    {
        if ((ckpt is null) == (idsPath is null)) throw new ArgumentException("give either --ckpt (a checkpoint) or --ids (an id file)");
        if (idsPath is not null)
        {
            if (codebookSize < 1) throw new ArgumentException($"--codebook-size must be positive, got {codebookSize}");
            var (itemIds, raw, levels) = SemanticIdFile.Read(idsPath);
            int largest = raw.Length == 0 ? 0 : raw.Max() + 1;
            if (largest > codebookSize) throw new ArgumentException($"{idsPath} uses code {largest - 1}, beyond --codebook-size {codebookSize}");
            var codes = new SemanticCodes(raw, Enumerable.Repeat(codebookSize, levels).ToArray());
            AnsiConsole.MarkupLineInterpolated($"{idsPath}: {itemIds.Count:N0} items, {levels} levels; {codes.DistinctCount:N0} distinct ids, collision rate {codes.CollisionRate:P3}");
            PrintUtilization(codes);
            return 0;
        }
        var (model, items, _) = LoadWithData(ckpt!, dataPath);
        var evaluation = RqVaeEvaluation.Of(model, items);
        AnsiConsole.MarkupLineInterpolated($"Collision rate {evaluation.CollisionRate:P3} (nearest codewords, before any resolution); reconstruction MSE {evaluation.ReconstructionError.ToString("G5", CultureInfo.InvariantCulture)}");
        for (int l = 0; l < evaluation.Utilization.Length; l++)
            AnsiConsole.MarkupLineInterpolated($"  level {l}: {evaluation.UsedCodes[l]} of {model.Config.NumEmbList[l]} codes used ({evaluation.Utilization[l]:P1})");
        return 0;
    }
}
