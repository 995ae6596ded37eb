using System.CommandLine;
using System.Diagnostics;
using Spectre.Console;
using VectorRecall.Data;
using VectorRecall.Indexing;
using VectorRecall.Numerics;
using VectorRecall.Serving;
using VectorRecall.TwoTower;
using VectorRecall.Retrieval;
using VectorRecall.Training;
using VectorRecall.Towers;

namespace VectorRecall.Cli.Commands;

/// <summary>
/// <c>vrecall demo</c> (and <c>vrecall</c> alone): the main job end to end on synthetic data —
/// generate, train the two-tower model, encode the items into an index, save a serving bundle, load
/// it into a <see cref="RecallService"/>, benchmark recall, report quality beside the oracle, and
/// show one user's top 20. <c>vrecall train</c> runs the same pipeline without the benchmark and the
/// top-20 demo.
/// </summary>
internal static class DemoCommand
{
    /// <summary>Said once in both commands' help: which defaults follow the data, and where to see them.</summary>
    private const string DefaultsNote = " Options marked [data-dependent] show generated data's default; real data starts from its own (`vrecall defaults` lists them), and a flag given always wins.";

    public static Command Create() => Create("demo", "Train on generated data (or yours, with --data), build the index and bundle, benchmark recall and report quality (runs when vrecall is given no command)." + DefaultsNote, demo: true);

    public static Command CreateTrain() => Create("train", "Train on your interactions (--data) or generated data, build the item index and save the serving bundle; report quality on the test split." + DefaultsNote, demo: false);

    private static Command Create(string name, string description, bool demo)
    {
        var set = new PipelineOptionSet();
        var command = new Command(name, description);
        set.AddTo(command, benchmark: demo);
        command.SetAction((r, token) => RunAsync(set.Read(r), demo, token, data => set.Read(r, data)));
        return command;
    }

    /// <summary>Runs the pipeline; <paramref name="resolve"/> reads the options again once real data is loaded (what depends on it: <c>--user-encoder auto</c>, the softmax).</summary>
    public static Task<int> RunAsync(PipelineOptions o, bool demo, CancellationToken token, Func<DataFacts, PipelineOptions>? resolve = null) =>
        CliErrors.Guard(() => Task.FromResult(Run(o, demo, token, resolve)));

    private static int Run(PipelineOptions o, bool demo, CancellationToken token, Func<DataFacts, PipelineOptions>? resolve)
    {
        o.Validate();
        var total = Stopwatch.StartNew();
        Rule("Vector Recall System - Training");

        // 1. Data.
        var clock = Stopwatch.StartNew();
        SyntheticData? synthetic = null;
        RecDataset data;
        IdMap itemIds;
        IdMap? userIds = null;   // synthetic users are their rows
        if (o.Synthetic)
        {
            WithProgress("Generating synthetic data", 1.0, report => synthetic = SyntheticGenerator.Generate(o.Data, new Progress(report), token));
            data = synthetic!.Dataset;
            itemIds = IdMap.Sequential(data.ItemCount);
            AnsiConsole.MarkupLineInterpolated($"Generated {data.InteractionCount:N0} interactions for {data.UserCount:N0} users and {data.ItemCount:N0} items in {clock.Elapsed.TotalSeconds:F1} s (train {data.Train.Count:N0}, validation {data.Validation.Count:N0}, test {data.Test.Count:N0})");
        }
        else
        {
            var loaded = DatasetLoaders.Load(o.Dataset, o.DataDir!, o.Format);
            data = RecDataset.FromInteractions(loaded);
            itemIds = loaded.ItemIds;
            userIds = loaded.UserIds;
            AnsiConsole.MarkupLineInterpolated($"Loaded {loaded.Describe()} in {clock.Elapsed.TotalSeconds:F1} s");
            bool auto = o.UserEncoderUnresolved;
            if (resolve is not null)
            {
                o = resolve(new DataFacts(loaded.Chronological, loaded.ItemCount));
                o.Validate();
            }
            if (auto) AnsiConsole.MarkupLineInterpolated($"User encoder: {o.UserEncoder} ({(loaded.Chronological ? "the interactions are time-ordered" : "the interactions are unordered")}; --user-encoder chooses)");
            if (loaded.Validation.Count == 0 && data.Validation.Count > 0)
                AnsiConsole.MarkupLineInterpolated($"No validation split: held out {data.Validation.Count:N0} train interactions (one per user with {RecDataset.MinItemsToHoldOut}+) to choose the served epoch");
        }

        // The run's folder, once the data has settled every option: what it was, then each epoch and evaluation as they come.
        var run = RunLog.Start(o.RunDir, o.ToJson());
        run.Timing("data", clock.Elapsed.TotalSeconds);
        AnsiConsole.MarkupLineInterpolated($"Run folder: {Path.GetFullPath(o.RunDir)}");

        // 2–3. Model, training, index and bundle.
        clock.Restart();
        var known = data.Train.Concat(data.Validation);
        Tensor itemVectors;
        try { itemVectors = o.Sequence ? TrainSequence(o, data, itemIds, userIds, known, run, token) : TrainTwoTower(o, data, itemIds, userIds, known, run, token); }
        catch (OperationCanceledException)
        {
            // What a stopped run has is its checkpoints: say how to go on from them, or to serve the best one as it is.
            AnsiConsole.MarkupLineInterpolated($"Stopped during training. Continue with the same flags plus --run-dir {o.RunDir} --resume; with --epochs set to the epochs done, that writes the bundle from the best checkpoint at once. vrecall report {o.RunDir} draws what was logged.");
            throw;
        }
        run.Timing("training, index and bundle", clock.Elapsed.TotalSeconds);
        AnsiConsole.MarkupLineInterpolated($"Serving bundle saved to {Path.GetFullPath(o.Bundle)}");

        using var service = RecallService.FromBundle(o.Bundle);
        if (demo && !o.SkipBenchmark) Benchmark(service, o, token);
        clock.Restart();
        Quality(service, data, synthetic, itemVectors, known, o, run, token);
        run.Timing("quality report", clock.Elapsed.TotalSeconds);
        if (demo && synthetic is not null) ShowOneUser(service, data, o);
        run.Timing("total", total.Elapsed.TotalSeconds);
        AnsiConsole.MarkupLineInterpolated($"Report: {Path.GetFullPath(RunReport.Write(o.RunDir))}");
        AnsiConsole.MarkupLineInterpolated($"[bold]done[/] in {total.Elapsed.TotalSeconds:F1} s");
        return 0;
    }

    /// <summary>The two-tower: trains, encodes the items with the item tower, writes a two-tower bundle; returns the item vectors.</summary>
    private static Tensor TrainTwoTower(PipelineOptions o, RecDataset data, IdMap itemIds, IdMap? userIds, UserItemLists known, RunLog run, CancellationToken token)
    {
        var model = o.SpectralRank != 0 ? BuildSpectral(o, data) : TrainTowers(o, data, run, token);
        var clock = Stopwatch.StartNew();
        Rule("Building index");
        Tensor itemVectors = null!;
        WithProgress("Encoding items", data.ItemCount, report => itemVectors = TowerEncoder.EncodeItems(model.Item, data.Items, 4096, new Progress<int>(n => report(n)), token));
        AnsiConsole.MarkupLineInterpolated($"Items encoded in {clock.Elapsed.TotalSeconds:F2}s");
        using var index = BuildIndex(o, itemVectors, token);
        ServingBundle.Save(o.Bundle, model, index, itemVectors, itemIds, data.UserFeatures, known, known, userIds);
        return itemVectors;
    }

    /// <summary>The closed-form spectral two-tower: no epochs, an eigendecomposition of the interaction graph (the rank fixed or picked by validation).</summary>
    private static TwoTowerModel BuildSpectral(PipelineOptions o, RecDataset data)
    {
        Rule("Spectral model");
        var clock = Stopwatch.StartNew();
        TwoTowerModel model = null!;
        int rank = o.SpectralRank;
        var chosen = new SpectralChoice(rank, 0, SpectralTwoTower.DefaultDegreeExponent, 0, double.NaN);
        IReadOnlyList<SpectralChoice> scores = [];
        WithProgress("Eigenvectors of the item graph, then the candidates by validation", rank == PipelineOptions.AutoRank ? SpectralTwoTower.SelectionSteps(data) : TruncatedEigen.DefaultIterations, report =>
        {
            int done = 0;
            var progress = new Progress<int>(_ => report(++done));
            if (rank != PipelineOptions.AutoRank) model = SpectralTwoTower.Build(data, data.Train.Concat(data.Validation), Math.Min(rank, data.ItemCount), progress: progress);
            else (model, chosen, scores) = SpectralTwoTower.BuildSelected(data, progress: progress);
        });
        if (scores.Count > 0) AnsiConsole.MarkupLineInterpolated($"Validation recall@20 by rank / eigenvalue exponent / degree exponent / normalisation: {string.Join(", ", scores.Select(s => $"{s.Rank}/{s.EigenvalueExponent}/{s.DegreeExponent}/{s.Normalization}: {s.Recall:F4}"))}");
        AnsiConsole.MarkupLineInterpolated($"Spectral model: {model.Config.EmbeddingDim} eigenvectors of the graph normalised by degree^-{chosen.Normalization} (½: GF-CF's), weighted by eigenvalue^{chosen.EigenvalueExponent} (0: GF-CF's ideal low-pass filter), history items discounted by degree^{chosen.DegreeExponent}, {(chosen.Taper == 0 ? "a sharp cutoff" : $"the last {chosen.Taper:P0} of the directions faded linearly")}, {model.Config.EmbeddingDim}-d inner-product vectors, built in {clock.Elapsed.TotalSeconds:F1} s (nothing trained)");
        return model;
    }

    /// <summary>Trains the towers with the shared loop; returns the model with the served epoch's weights.</summary>
    private static TwoTowerModel TrainTowers(PipelineOptions o, RecDataset data, RunLog run, CancellationToken token)
    {
        var config = o.ModelConfig(data);
        var model = new TwoTowerModel(config, new Rng(o.Data.Seed ^ 0xA5A5UL));
        string loss = o.Loss.Kind == LossKind.Ccl
            ? $"CCL over {o.Loss.NumNegatives} sampled negatives, margin {o.Loss.Margin}, negative weight {o.Loss.NegativeWeight}"
            : $"InfoNCE, {o.Loss.NumNegatives} sampled negatives + in-batch, τ={o.Loss.Temperature}, logQ {(o.Loss.LogQCorrection ? "on" : "off")}";
        string graph = config.PropagationLayers > 0 ? $", {config.PropagationLayers} LightGCN layers" : "";
        string gate = config.GatedBehaviour ? ", gated behaviour" : "";
        AnsiConsole.MarkupLineInterpolated($"Model parameters: {model.ParameterCount:N0} (towers {string.Join("→", [config.UserInputDim, .. config.Hidden, config.EmbeddingDim])}{gate}{graph}; {loss})");
        var trainer = new TwoTowerTrainer(model, data, o.Trainer, o.Loss);
        Train(trainer, o, run, token);
        return model;
    }

    /// <summary>The sequence encoder: trains on every position, indexes its (tied) item table, writes a sequence bundle; returns the item vectors.</summary>
    private static Tensor TrainSequence(PipelineOptions o, RecDataset data, IdMap itemIds, IdMap? userIds, UserItemLists known, RunLog run, CancellationToken token)
    {
        var encoder = new SequenceEncoder(o.SequenceConfig(data), new Rng(o.Data.Seed ^ 0xA5A5UL), data.Items);
        string loss = o.Loss.NumNegatives > 0 ? $"sampled softmax over {o.Loss.NumNegatives} shared negatives" : "full softmax";
        AnsiConsole.MarkupLineInterpolated($"Sequence encoder: {encoder.ParameterCount:N0} parameters ({o.Blocks} {o.Norm}-norm blocks, {o.Heads} heads, width {o.EmbeddingDim}, the latest {o.MaxLength} items{(encoder.AttributeTable is null ? "" : $", {encoder.Config.Attributes} item attributes")}), {loss} at every position");
        var trainer = new SequenceTrainer(encoder, data, o.Trainer, o.Loss.NumNegatives);
        Train(trainer, o, run, token);
        Rule("Building index");
        var itemVectors = trainer.ItemVectors();
        using var index = BuildIndex(o, itemVectors, token);
        ServingBundle.SaveSequence(o.Bundle, encoder, index, itemVectors, itemIds, known, known, userIds);
        return itemVectors;
    }

    /// <summary>Runs the shared loop with progress, reports early stopping, and puts the selected epoch's weights in the model.</summary>
    private static void Train<TBatch>(EpochTrainer<TBatch> trainer, PipelineOptions o, RunLog run, CancellationToken token) where TBatch : class
    {
        if (o.Trainer.Resume) AnsiConsole.MarkupLineInterpolated($"Resumed from {trainer.ResumeFromLatest()} ({trainer.CompletedEpochs} epochs done)");
        TrainingProgress.Run(trainer, token, onEpoch: run.Epoch);
        string criterion = o.Trainer.SelectBy == ModelSelection.Recall ? $"validation recall@{EpochTrainer<TBatch>.SelectionK}" : "validation loss";
        if (trainer.StoppedEarly) AnsiConsole.MarkupLineInterpolated($"Stopped early: no better {criterion} for {o.Trainer.Patience} epochs");
        int served = trainer.RestoreBest();
        if (served != trainer.CompletedEpochs) AnsiConsole.MarkupLineInterpolated($"Serving epoch {served}'s weights (best_model, by {criterion})");
        run.Note("served_epoch", served);
    }

    private static IVectorIndex BuildIndex(PipelineOptions o, Tensor itemVectors, CancellationToken token)
    {
        var clock = Stopwatch.StartNew();
        IVectorIndex index = null!;
        WithProgress($"Building {o.IndexDescription}", itemVectors.Rows, report => index = TowerEncoder.BuildIndex(itemVectors, o.IndexDescription, new Progress<int>(n => report(n)), token));
        AnsiConsole.MarkupLineInterpolated($"Index built in {clock.Elapsed.TotalSeconds:F2}s, total items: {index.Count:N0}");
        return index;
    }

    private static void Benchmark(RecallService service, PipelineOptions o, CancellationToken token)
    {
        Rule("Performance Benchmark");
        var rng = new Rng(o.Data.Seed ^ 0xBE7CUL);
        int k = Math.Min(o.TopK, service.ItemCount);
        for (int i = 0; i < 200; i++) service.Recall(rng.NextInt(service.UserCount), default, k);  // warm up
        const int queries = 1000;
        var latencies = new double[queries];
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < queries; i++)
        {
            token.ThrowIfCancellationRequested();
            latencies[i] = service.Recall(rng.NextInt(service.UserCount), default, k).LatencyMs;
        }
        double wall = clock.Elapsed.TotalSeconds;
        Array.Sort(latencies);
        AnsiConsole.MarkupLineInterpolated($"Single Query Latency (Top-{k}), {queries} queries, one thread:");
        AnsiConsole.MarkupLineInterpolated($"  Mean: {latencies.Average():F3} ms");
        AnsiConsole.MarkupLineInterpolated($"  P50:  {Percentiles.Of(latencies, 50):F3} ms");
        AnsiConsole.MarkupLineInterpolated($"  P95:  {Percentiles.Of(latencies, 95):F3} ms");
        AnsiConsole.MarkupLineInterpolated($"  P99:  {Percentiles.Of(latencies, 99):F3} ms");
        AnsiConsole.MarkupLineInterpolated($"  QPS:  {queries / wall:F1}");
        AnsiConsole.WriteLine();
        AnsiConsole.MarkupLineInterpolated($"Batch Query Throughput (Top-{k}, {Threads.Count} threads):");
        foreach (int size in new[] { 16, 32, 64, 128 })
        {
            var users = new long[size];
            int rounds = Math.Max(3, 2048 / size);
            var times = new double[rounds];
            for (int round = 0; round < rounds; round++)
            {
                token.ThrowIfCancellationRequested();
                for (int i = 0; i < size; i++) users[i] = rng.NextInt(service.UserCount);
                times[round] = service.BatchRecall(users, null, k)[0].LatencyMs;
            }
            Array.Sort(times);
            double ms = Percentiles.Of(times, 50);
            AnsiConsole.MarkupLineInterpolated($"  Batch={size,-4} {ms,7:F2}ms, QPS={size / ms * 1000:F1}");
        }
        AnsiConsole.WriteLine();
        AnsiConsole.MarkupLine("Index Statistics:");
        var index = service.Index!;
        AnsiConsole.MarkupLineInterpolated($"  dim: {index.Dimension}");
        AnsiConsole.MarkupLineInterpolated($"  current_count: {index.Count:N0}");
        if (index is HnswIndex h)
        {
            AnsiConsole.MarkupLineInterpolated($"  M: {h.M}");
            AnsiConsole.MarkupLineInterpolated($"  ef_construction: {h.Options.EfConstruction}");
            AnsiConsole.MarkupLineInterpolated($"  ef_search: {h.EfSearch} (at least top-k is used)");
        }
        AnsiConsole.MarkupLineInterpolated($"  space: {index.Metric.ShortName()} (unit vectors: inner product = cosine)");
        AnsiConsole.MarkupLineInterpolated($"  type: {index.GetType().Name}");
    }


    /// <summary>
    /// Ranking metrics on the test split: popularity, the model by exact and by index search, and
    /// (synthetic data) the oracle; then ANN recall against exact.
    /// </summary>
    private static void Quality(RecallService service, RecDataset data, SyntheticData? synthetic, Tensor itemVectors, UserItemLists known, PipelineOptions o, RunLog run, CancellationToken token)
    {
        Rule("Recall Quality (test split)");
        int[] ks = synthetic is null ? [1, 5, 10, 20, 50] : [10, 50, 500];
        ks = ks.Where(k => k <= data.ItemCount).ToArray();
        var users = Enumerable.Range(0, data.UserCount).Where(u => data.Test.CountOf(u) > 0).ToList();
        int testUsers = users.Count;
        if (users.Count > o.EvalUsers)
        {
            var pick = users.ToArray();
            new Rng(o.Data.Seed ^ 0xE7A1UL).Shuffle(pick.AsSpan());
            users = pick[..o.EvalUsers].Order().ToList();
        }
        var ids = users.Select(u => (long)u).ToArray();
        var clock = Stopwatch.StartNew();
        var userVectors = service.EncodeUsers(ids);

        var results = new List<(string Name, RankingMetrics Metrics)>();
        using (var popularity = new PopularityRetriever(data.Train, data.ItemCount))
            results.Add(("popularity", RetrievalEvaluator.Evaluate(popularity, PopularityRetriever.Queries(users.Count), users, data.Test, known, ks, cancel: token).Metrics));
        using (var exact = new IndexRetriever(TowerEncoder.BuildIndex(itemVectors, "Flat")))
        {
            string model = service.Kind == BundleKind.Sequence ? "sequence" : "two-tower";
            results.Add(($"{model}, exact", RetrievalEvaluator.Evaluate(exact, userVectors, users, data.Test, known, ks, cancel: token).Metrics));
            results.Add(($"{model}, {service.Retriever.Name}", RetrievalEvaluator.Evaluate(service.Retriever, userVectors, users, data.Test, known, ks, cancel: token).Metrics));
            if (synthetic is not null)
            {
                var (oracleUsers, oracleItems) = synthetic.OracleVectors();
                results.Add(("oracle", Evaluate((Gather(oracleUsers, users), oracleItems), users, data, known, ks, token)));
            }

            var table = new Table().AddColumn("metric");
            foreach (var (name, _) in results) table.AddColumn(new TableColumn(name).RightAligned());
            // Generated data: the three the design note reports; real data: all of them.
            var metrics = synthetic is not null ? RankingMetricNames.All[..3] : RankingMetricNames.All;
            foreach (var metric in metrics)
                foreach (int k in ks)
                    table.AddRow([$"{metric.Label()}@{k}", .. results.Select(r => r.Metrics.Get(metric, k).ToString("F4"))]);
            AnsiConsole.Write(table);
            foreach (var (name, m) in results) run.Evaluation(name, m, ks, users.Count);
            int annK = Math.Min(o.TopK, data.ItemCount);
            // A sample of the users measures ANN recall closely enough (its standard error is about 0.001) for a fifth of the searches.
            int annUsers = Math.Min(users.Count, AnnRecallUsers);
            double annRecall = RetrievalEvaluator.AnnRecall(service.Index!, exact.Index, userVectors.RowRange(0, annUsers), annK);
            // A sample reads lower or higher than `vrecall eval` over every user: say which this is.
            string scored = users.Count < testUsers ? $"{users.Count:N0} of {testUsers:N0} test users (a random sample, --eval-users; `vrecall eval` scores all)" : $"{users.Count:N0} test users";
            AnsiConsole.MarkupLineInterpolated($"{scored}; items each user already had (train + validation) are excluded. ANN recall@{annK} of the index against exact search ({annUsers:N0} users): {annRecall:F4}. ({clock.Elapsed.TotalSeconds:F1} s)");
            run.Note($"ann_recall@{annK}", Math.Round(annRecall, 4));
        }
    }

    /// <summary>Users whose searches measure the index's ANN recall against exact search.</summary>
    private const int AnnRecallUsers = 2000;

    private static RankingMetrics Evaluate((Tensor Users, Tensor Items) vectors, List<int> users, RecDataset data, UserItemLists known, int[] ks, CancellationToken token)
    {
        using var flat = new IndexRetriever(TowerEncoder.BuildIndex(vectors.Items, "Flat"));
        return RetrievalEvaluator.Evaluate(flat, vectors.Users, users, data.Test, known, ks, cancel: token).Metrics;
    }

    private static Tensor Gather(Tensor rows, List<int> which)
    {
        var t = new Tensor(which.Count, rows.Cols);
        for (int r = 0; r < which.Count; r++) rows.Row(which[r]).CopyTo(t.Row(r));
        return t;
    }

    private static void ShowOneUser(RecallService service, RecDataset data, PipelineOptions o)
    {
        Rule("Recall Demo");
        int user = new Rng(o.Data.Seed ^ 0xD3E0UL).NextInt(data.UserCount);
        var result = service.Recall(user, default, Math.Min(20, data.ItemCount), excludeSeen: true);
        var test = new HashSet<int>(data.Test.Of(user).ToArray());
        AnsiConsole.MarkupLineInterpolated($"Recalling for User {user} (items already seen excluded)...");
        AnsiConsole.MarkupLineInterpolated($"Latency: {result.LatencyMs:F2} ms");
        var table = new Table().Title("Top-20 Recommended Items").AddColumns("Rank", "Item ID", "Score", "Category", "In the user's test items");
        for (int i = 0; i < result.ItemRows.Length; i++)
        {
            int item = result.ItemRows[i];
            table.AddRow($"{i + 1}", result.Items[item], $"{result.Scores[i]:F4}", $"{data.Items.Categories[item]}", test.Contains(item) ? "yes" : "");
        }
        AnsiConsole.Write(table);
        var categories = data.Train.Of(user).ToArray().Select(i => data.Items.Categories[i]).GroupBy(c => c).OrderByDescending(g => g.Count()).Take(5);
        AnsiConsole.MarkupLineInterpolated($"The user's most frequent training categories: {string.Join(", ", categories.Select(g => $"{g.Key} ({g.Count()})"))}");
    }

    internal static void Rule(string title)
    {
        AnsiConsole.WriteLine();
        // Plain output has no width to fill: a rule would run to the 4,096 columns it is given.
        if (Program.PlainOutput) AnsiConsole.WriteLine($"── {title} ──");
        else AnsiConsole.Write(new Rule(title).LeftJustified());
    }

    /// <summary>Runs <paramref name="work"/> with one progress bar; the work reports how far it is (out of <paramref name="max"/>).</summary>
    internal static void WithProgress(string description, double max, Action<Action<double>> work) =>
        AnsiConsole.Progress().AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(description, maxValue: max);
                work(v => task.Value = v);
                task.Value = max;
            });

    private sealed class Progress(Action<double> report) : IProgress<double>
    {
        public void Report(double value) => report(value);
    }
}
