using System.CommandLine;
using VectorRecall.Data;
using VectorRecall.Indexing;
using VectorRecall.TwoTower;
using VectorRecall.Training;
using VectorRecall.Towers;

namespace VectorRecall.Cli.Commands;

/// <summary>Everything the two-tower pipeline (data → train → index → bundle → benchmark → quality) can be told.</summary>
internal sealed record PipelineOptions
{
    public SyntheticOptions Data { get; init; } = new();
    /// <summary>"synthetic" (generated from <see cref="Data"/>) or a name <see cref="DatasetLoaders.Load"/> knows.</summary>
    public string Dataset { get; init; } = "synthetic";
    /// <summary>Folder or file of a real data set.</summary>
    public string? DataDir { get; init; }
    /// <summary>How a CSV or TSV data file is laid out (detected where not given).</summary>
    public TableFormat Format { get; init; } = new();
    public bool Synthetic => Dataset.Equals("synthetic", StringComparison.OrdinalIgnoreCase);
    public int EmbeddingDim { get; init; } = 128;
    public int[] Hidden { get; init; } = [256, 128];
    public float Dropout { get; init; } = 0.1f;
    /// <summary>Probability in training that an item's id embedding is zeroed (<see cref="TowerConfig.ItemIdDropout"/>).</summary>
    public float ItemIdDropout { get; init; }
    public int HistoryLength { get; init; } = 20;
    public int RecentLength { get; init; }
    /// <summary>Mix the user id's embedding and the behaviour bag through a learned gate (<see cref="TowerConfig.GatedBehaviour"/>).</summary>
    public bool BehaviourGate { get; init; }
    /// <summary>LightGCN layers the id embeddings are propagated through while training (<see cref="TowerConfig.PropagationLayers"/>).</summary>
    public int PropagationLayers { get; init; }
    /// <summary>Eigenvectors of the closed-form spectral model (<see cref="SpectralTwoTower"/>): 0 trains the towers, <see cref="AutoRank"/> picks by validation.</summary>
    public int SpectralRank { get; init; }
    public const int AutoRank = -1;
    /// <summary>
    /// The user encoder: "bag" (the two-tower's user tower), "sequence" (a causal transformer over recent items, tied
    /// item table) or "auto" (sequence for time-ordered real data, bag for unordered and synthetic data; resolved once
    /// the data is loaded, see <see cref="PipelineOptionSet.Read"/>).
    /// </summary>
    public string UserEncoder { get; init; } = "auto";
    /// <summary>True while "auto" waits for the data to say whether it is time-ordered.</summary>
    public bool UserEncoderUnresolved => UserEncoder.Equals("auto", StringComparison.OrdinalIgnoreCase) && !Synthetic;
    public bool Sequence => UserEncoder.Equals("sequence", StringComparison.OrdinalIgnoreCase);
    public int Blocks { get; init; } = 2;
    public int Heads { get; init; } = 1;
    /// <summary>The sequence encoder's layer norms: "pre" (each branch's input, SASRec's) or "post" (after each residual sum).</summary>
    public string Norm { get; init; } = "pre";
    public int MaxLength { get; init; } = 50;
    /// <summary>Whether the sequence encoder adds the mean of an item's attribute embeddings to its id's, where the data has attributes.</summary>
    public bool ItemAttributes { get; init; } = true;
    public TrainerOptions Trainer { get; init; } = new();
    public InfoNceOptions Loss { get; init; } = new();
    public string Index { get; init; } = "hnsw";
    public int M { get; init; } = 16;
    public int EfConstruction { get; init; } = 200;
    public int EfSearch { get; init; } = 500;
    /// <summary>What the HNSW walk reads: float32, fp16, sq8, sq4 or rabitq (<see cref="VectorStorage"/>).</summary>
    public string Storage { get; init; } = "float32";
    /// <summary>Compact storage: candidates the exact vectors re-rank, as a multiple of k (null: the storage's default).</summary>
    public int? Refine { get; init; }
    /// <summary>SQ8 and SQ4: how the exact vectors are kept, float32 or fp16 (<see cref="HnswOptions.RefineStorage"/>).</summary>
    public string RefineStorage { get; init; } = "float32";
    public string Bundle { get; init; } = "bundle";
    /// <summary>The run's folder: configuration, metrics.jsonl, report.html and (unless --checkpoint-dir says otherwise) checkpoints.</summary>
    public string RunDir { get; init; } = RunLog.DefaultFolder(DateTime.Now, "synthetic");
    public bool SkipBenchmark { get; init; }
    public int TopK { get; init; } = 500;
    public int EvalUsers { get; init; } = 10_000;

    public string IndexDescription => Index.ToLowerInvariant() switch
    {
        "hnsw" => $"HNSW{M},{IndexCommands.ParseStorage(Storage)},efc={EfConstruction},efs={EfSearch}" + (Refine is { } refine ? $",refine={refine}" : "")
            + (IndexCommands.ParseRefineStorage(RefineStorage) == VectorStorage.FP16 ? ",refine_storage=FP16" : ""),
        "flat" => "Flat",
        _ => throw new ArgumentException($"--index must be hnsw or flat, got '{Index}'"),
    };

    /// <summary>The effective options, as a run folder's config.json records them.</summary>
    public System.Text.Json.Nodes.JsonObject ToJson()
    {
        var json = System.Text.Json.JsonSerializer.SerializeToNode(this, RunLog.JsonOptions)!.AsObject();
        // The generator's settings describe generated data only; a real data set's run would carry them unused.
        if (!Synthetic) json.Remove("data");
        return json;
    }

    public TowerConfig ModelConfig(RecDataset data) => new()
    {
        NumUsers = data.UserCount,
        NumItems = data.ItemCount,
        UserFeatures = data.UserFeatures.Cols,
        ItemFeatures = data.Items.FeatureCount,
        Categories = data.Items.CategoryCount,
        Tags = data.Items.TagCount,
        EmbeddingDim = EmbeddingDim,
        Hidden = Hidden,
        Dropout = Dropout,
        ItemIdDropout = ItemIdDropout,
        HistoryLength = HistoryLength,
        // Unordered data has no "most recent" items.
        RecentLength = data.Chronological ? RecentLength : 0,
        GatedBehaviour = BehaviourGate,
        OutputBias = Loss.Kind != LossKind.Ccl,
        PropagationLayers = PropagationLayers,
    };

    /// <summary>The sequence encoder's shape for <paramref name="data"/> (width from <see cref="EmbeddingDim"/>, dropout from <see cref="Dropout"/>).</summary>
    public SequenceEncoderConfig SequenceConfig(RecDataset data) => new()
    {
        NumItems = data.ItemCount, Dim = EmbeddingDim, MaxLength = MaxLength, Blocks = Blocks, Heads = Heads, Dropout = Dropout, PreNorm = Norm.Equals("pre", StringComparison.OrdinalIgnoreCase),
        Attributes = ItemAttributes ? data.Items.TagCount : 0,
    };

    public void Validate()
    {
        if (Norm.ToLowerInvariant() is not ("pre" or "post")) throw new ArgumentException($"--norm must be pre or post, got '{Norm}'");
        if (UserEncoder.ToLowerInvariant() is not ("auto" or "bag" or "sequence")) throw new ArgumentException($"--user-encoder must be auto, bag or sequence, got '{UserEncoder}'");
        if (Synthetic && DataDir is not null) throw DataOptions.UnknownFormat(DataDir);
        if (Synthetic) Data.Validate();
        else if (!DatasetLoaders.Names.Contains(Dataset.ToLowerInvariant()))
            throw new ArgumentException($"--dataset must be synthetic or one of {string.Join(", ", DatasetLoaders.Names)}, got '{Dataset}'");
        else if (DataDir is null) throw new ArgumentException($"--dataset {Dataset} needs --data (its folder or file)");
        Trainer.Validate();
        Loss.Validate();
        _ = IndexDescription;
        if (M < 2 || EfConstruction < 1 || EfSearch < 1) throw new ArgumentException("--m must be >= 2 and the ef values >= 1");
        IndexCommands.CheckRefine(Refine);
        if (TopK < 1 || (Synthetic && TopK > Data.NumItems)) throw new ArgumentException($"--top-k must be in [1, {Data.NumItems}], got {TopK}");
        if (Sequence && SpectralRank != 0) throw new ArgumentException("--spectral-rank builds the bag two-tower in closed form; it does not apply to --user-encoder sequence");
        if (SpectralRank < PipelineOptions.AutoRank) throw new ArgumentException($"--spectral-rank must be auto, 0 or a positive rank, got {SpectralRank}");
        if (PropagationLayers is < 0 or > 8) throw new ArgumentException($"--propagation-layers must be in [0, 8], got {PropagationLayers}");
        if (EvalUsers < 1) throw new ArgumentException($"--eval-users must be positive, got {EvalUsers}");
    }
}

/// <summary>What the loaded data set is, for the defaults that depend on it.</summary>
internal sealed record DataFacts(bool Chronological, int Items);

/// <summary>The pipeline's command-line options: kebab-case, with the design note's snake_case names as aliases.</summary>
internal sealed class PipelineOptionSet
{
    private static readonly PipelineOptions D = new();
    private static readonly DatasetDefaults S = DatasetDefaults.Synthetic;
    /// <summary>Marks an option whose default depends on the data (the help's description says so once; <c>vrecall defaults</c> lists them).</summary>
    private const string PerDataset = " [data-dependent]";
    private readonly Option<string> _dataset = new("--dataset") { Description = $"synthetic, or real data: {string.Join(", ", DatasetLoaders.Names)}", DefaultValueFactory = _ => D.Dataset };
    private readonly DataOptions _data = new();
    private readonly Option<int> _users = new("--num-users", "--num_users") { Description = "synthetic users", DefaultValueFactory = _ => D.Data.NumUsers };
    private readonly Option<int> _items = new("--num-items", "--num_items") { Description = "synthetic items", DefaultValueFactory = _ => D.Data.NumItems };
    private readonly Option<int> _interactions = new("--num-interactions", "--num_interactions") { Description = "synthetic interactions (split by time into train / validation / test)", DefaultValueFactory = _ => D.Data.NumInteractions };
    private readonly Option<ulong> _seed = new("--seed") { Description = "seed for data, initialisation, shuffling and sampling", DefaultValueFactory = _ => D.Data.Seed };
    private readonly Option<int> _dim = new("--embedding-dim", "--embedding_dim") { Description = "dimension of the user/item space" + PerDataset, DefaultValueFactory = _ => S.EmbeddingDim };
    private readonly Option<int[]> _hidden = new("--hidden") { Description = $"tower MLP hidden sizes, e.g. --hidden 256 128; --hidden 0 for none (one Linear layer) [default: {string.Join(' ', S.Hidden)}]" + PerDataset, AllowMultipleArgumentsPerToken = true };
    private readonly Option<float> _dropout = new("--dropout") { Description = "dropout after each hidden layer" + PerDataset, DefaultValueFactory = _ => S.Dropout };
    private readonly Option<float> _itemIdDropout = new("--item-id-dropout", "--item_id_dropout") { Description = "trained towers: probability that an item's id embedding is zeroed in training, so the item tower also learns to place items from their category, tags and features alone (as it must for items put live by their description)", DefaultValueFactory = _ => 0f };
    private readonly Option<int> _history = new("--history-length", "--history_length") { Description = "recent items the behaviour encoder averages" + PerDataset, DefaultValueFactory = _ => S.HistoryLength };
    private readonly Option<int> _recent = new("--recent-length", "--recent_length") { Description = "most recent items that also get a bag of their own, 0 for none (ignored for unordered data)" + PerDataset, DefaultValueFactory = _ => S.RecentLength };
    private readonly Option<bool> _gate = new("--behaviour-gate", "--behaviour_gate") { Description = "trained towers: mix the user id's embedding and the behaviour bag through a learned gate instead of concatenating them (SimpleX)" };
    private readonly Option<int> _propagation = new("--propagation-layers", "--propagation_layers") { Description = "trained towers: LightGCN layers the id embeddings are propagated through over the training graph at every step (the served tables are the propagated ones), 0 for none", DefaultValueFactory = _ => 0 };
    private readonly Option<string> _spectralRank = new("--spectral-rank", "--spectral_rank") { Description = "build the two-tower in closed form from the interaction graph's leading eigenvectors (GF-CF's ideal low-pass filter as an inner product, no training): auto (the rank, an eigenvalue weighting and a degree discount by validation recall, the directions faded by a linear window), a rank (GF-CF's ideal low-pass filter), or 0 to train the towers (default 0; unordered real data: auto)" };
    private readonly Option<string> _userEncoder = new("--user-encoder", "--user_encoder") { Description = "auto (sequence for time-ordered real data: sequence files, json, csv with timestamps; bag otherwise), bag (the two-tower's user tower) or sequence (a causal transformer over the latest --max-length items, SASRec-style, trained on every position; its own defaults: vrecall defaults)", DefaultValueFactory = _ => D.UserEncoder };
    private readonly Option<int> _blocks = new("--blocks") { Description = "sequence encoder: transformer blocks", DefaultValueFactory = _ => D.Blocks };
    private readonly Option<string> _norm = new("--norm") { Description = "sequence encoder: pre (normalise each branch's input) or post (normalise after each residual sum)", DefaultValueFactory = _ => D.Norm };
    private readonly Option<int> _heads = new("--heads") { Description = "sequence encoder: attention heads (must divide --embedding-dim)", DefaultValueFactory = _ => D.Heads };
    private readonly Option<int> _maxLength = new("--max-length", "--max_length") { Description = "sequence encoder: the most recent items read", DefaultValueFactory = _ => D.MaxLength };
    private readonly Option<bool> _itemAttributes = new("--item-attributes", "--item_attributes") { Description = "sequence encoder: add the mean of each item's attribute embeddings (brand, category …) to its id's, where the data has attributes (Beauty); --item-attributes false for ids alone", DefaultValueFactory = _ => D.ItemAttributes };
    private readonly Option<int> _epochs = new("--epochs") { Description = "passes over the training interactions" + PerDataset, DefaultValueFactory = _ => S.Epochs };
    private readonly Option<int> _batch = new("--batch-size", "--batch_size") { Description = "interactions per step" + PerDataset, DefaultValueFactory = _ => S.BatchSize };
    private readonly Option<double> _lr = new("--lr") { Description = "peak learning rate (AdamW; warmup then cosine decay)" + PerDataset, DefaultValueFactory = _ => S.LearningRate };
    private readonly Option<double> _weightDecay = new("--weight-decay", "--weight_decay") { Description = "AdamW's decoupled weight decay" + PerDataset, DefaultValueFactory = _ => S.WeightDecay };
    private readonly Option<int> _negatives = new("--num-negatives", "--num_negatives") { Description = "sampled negatives per example, besides the in-batch ones (sequence encoder: negatives shared by the batch, 0 for the full softmax)" + PerDataset, DefaultValueFactory = _ => S.NumNegatives };
    private readonly Option<bool> _sharedNegatives = new("--shared-negatives", "--shared_negatives") { Description = "draw --num-negatives per batch, scored by every example, instead of per example" };
    private readonly Option<string> _sampler = new("--sampler") { Description = "negative sampling: uniform or popularity", DefaultValueFactory = _ => "uniform" };
    private readonly Option<string> _loss = new("--loss") { Description = "two-tower objective: infonce (softmax over in-batch and sampled negatives) or ccl (SimpleX's cosine contrastive loss over sampled negatives; give it --num-negatives 1000 --shared-negatives)", DefaultValueFactory = _ => "infonce" };
    private readonly Option<float> _margin = new("--margin") { Description = "ccl: negatives with a cosine above this are pushed away", DefaultValueFactory = _ => D.Loss.Margin };
    private readonly Option<float> _negativeWeight = new("--negative-weight", "--negative_weight") { Description = "ccl: the weight of the negatives' mean loss against the positive's", DefaultValueFactory = _ => D.Loss.NegativeWeight };
    private readonly Option<float> _temperature = new("--temperature") { Description = "InfoNCE temperature" + PerDataset, DefaultValueFactory = _ => S.Temperature };
    private readonly Option<bool> _noLogQ = new("--no-logq", "--no_logq") { Description = "turn off the logQ sampling-bias correction" };
    private readonly Option<string> _selectBy = new("--select-by", "--select_by") { Description = "what picks the served epoch: loss (validation loss) or recall (validation recall@20, all items)" + PerDataset, DefaultValueFactory = _ => S.SelectBy.ToString().ToLowerInvariant() };
    private readonly Option<string> _decay = new("--weight-decay-on") { Description = "what weight decay applies to: all (every parameter) or matrices (not biases, normalisation weights or embedding tables)", DefaultValueFactory = _ => D.Trainer.DecayAllParameters ? "all" : "matrices" };
    private readonly Option<int> _patience = new("--patience") { Description = "stop after this many epochs without a better validation score (loss or recall@20, as --select-by says), 0 for never; the best epoch's weights are served either way" + PerDataset, DefaultValueFactory = _ => S.Patience };
    private readonly Option<string?> _runDir = new("--run-dir", "--run_dir") { Description = "the run's folder: config.json, metrics.jsonl, report.html, checkpoints [default: runs/<yyyyMMdd-HHmmss>-<data name>]" };
    private readonly Option<string?> _checkpoints = new("--checkpoint-dir", "--checkpoint_dir") { Description = "where checkpoints go [default: <run-dir>/checkpoints]" };
    private readonly Option<int> _saveLimit = new("--save-limit", "--save_limit") { Description = "epoch checkpoints kept, the latest ones (best_model is kept besides), 0 for all", DefaultValueFactory = _ => 3 };
    /// <summary>When this command line was read: one run folder name however often the options are read again.</summary>
    private readonly DateTime _started = DateTime.Now;
    private readonly Option<bool> _resume = new("--resume") { Description = "continue from the latest checkpoint in --checkpoint-dir" };
    private readonly Option<string> _index = new("--index") { Description = "item index: hnsw or flat", DefaultValueFactory = _ => D.Index };
    private readonly Option<int> _m = IndexCommands.LinksOption(D.M);
    private readonly Option<int> _efc = IndexCommands.EfConstructionOption(D.EfConstruction);
    private readonly Option<int> _efs = new("--ef-search", "--ef_search") { Description = "HNSW candidate list while searching (at least top-k is used)", DefaultValueFactory = _ => D.EfSearch };
    private readonly Option<string> _storage = IndexCommands.StorageOption();
    private readonly Option<int?> _refine = IndexCommands.RefineOption();
    private readonly Option<string> _refineStorage = IndexCommands.RefineStorageOption();
    private readonly Option<string> _bundle = new("--bundle") { Description = "serving bundle folder to write", DefaultValueFactory = _ => D.Bundle };
    private readonly Option<bool> _skipBenchmark = new("--skip-benchmark", "--skip_benchmark") { Description = "skip the latency and throughput benchmark" };
    private readonly Option<int> _topK = new("--top-k", "--top_k") { Description = "items per recall in the benchmark and in the index's recall check against exact search", DefaultValueFactory = _ => D.TopK };
    private readonly Option<int> _evalUsers = new("--eval-users", "--eval_users") { Description = "test users the quality report ranks for (at most)", DefaultValueFactory = _ => D.EvalUsers };

    /// <summary>Adds the options to <paramref name="command"/>; only the demo runs a benchmark, so only it takes <c>--skip-benchmark</c>.</summary>
    public void AddTo(Command command, bool benchmark)
    {
        foreach (var o in _data.All) command.Add(o);
        foreach (var o in new Option[] { _dataset, _users, _items, _interactions, _seed, _dim, _hidden, _dropout, _itemIdDropout, _history, _recent, _gate, _propagation, _spectralRank, _userEncoder, _blocks, _heads, _norm, _maxLength, _itemAttributes, _epochs, _batch, _lr, _weightDecay, _decay, _negatives, _sharedNegatives, _sampler,
                     _loss, _margin, _negativeWeight, _temperature, _noLogQ, _selectBy, _patience, _checkpoints, _resume, _index, _m, _efc, _efs, _storage, _refine, _refineStorage, _bundle, _runDir, _saveLimit, _topK, _evalUsers })
            command.Add(o);
        if (benchmark) command.Add(_skipBenchmark);
    }

    /// <summary>
    /// The options as parsed. <paramref name="data"/> (what the loaded real data set is) settles what depends on it:
    /// <c>--user-encoder auto</c> (time-ordered or not) and the sequence encoder's softmax (<see cref="DatasetDefaults.FullSoftmaxItems"/>).
    /// Without it "auto" is kept, read with the bag's defaults, for the caller to read again once the data is loaded.
    /// </summary>
    public PipelineOptions Read(ParseResult r, DataFacts? data = null)
    {
        ulong seed = r.GetValue(_seed);
        string? dataPath = r.GetValue(_data.Data);
        string dataset = DataOptions.InferDataset(r.GetResult(_dataset) is { Implicit: false } ? r.GetValue(_dataset) : null, dataPath) ?? r.GetValue(_dataset)!;
        string userEncoder = r.GetValue(_userEncoder)!;
        string runDir = r.GetValue(_runDir) ?? RunLog.DefaultFolder(_started, dataPath is null ? dataset : Path.GetFileNameWithoutExtension(Path.TrimEndingDirectorySeparator(dataPath)));
        if (userEncoder.Equals("auto", StringComparison.OrdinalIgnoreCase) && data is not null && !dataset.Equals("synthetic", StringComparison.OrdinalIgnoreCase))
            userEncoder = data.Chronological ? "sequence" : "bag";
        var d = DatasetDefaults.For(dataset, userEncoder, data?.Items, data?.Chronological ?? true);
        bool sequence = userEncoder.Equals("sequence", StringComparison.OrdinalIgnoreCase);
        T Pick<T>(Option<T> option, T fallback) => r.GetResult(option) is { Implicit: false } ? r.GetValue(option)! : fallback;
        var hidden = Pick(_hidden, d.Hidden);
        var selectBy = Pick(_selectBy, d.SelectBy.ToString()).ToLowerInvariant() switch
        {
            "loss" => ModelSelection.Loss,
            "recall" => ModelSelection.Recall,
            var v => throw new ArgumentException($"--select-by must be loss or recall, got '{v}'"),
        };
        var sampler = r.GetValue(_sampler)!.ToLowerInvariant() switch
        {
            "uniform" => SamplerKind.Uniform,
            "popularity" or "pop" => SamplerKind.Popularity,
            var s => throw new ArgumentException($"--sampler must be uniform or popularity, got '{s}'"),
        };
        return new PipelineOptions
        {
            Data = D.Data with { NumUsers = r.GetValue(_users), NumItems = r.GetValue(_items), NumInteractions = r.GetValue(_interactions), Seed = seed },
            Dataset = dataset,
            DataDir = dataPath,
            Format = _data.Format(r),
            EmbeddingDim = Pick(_dim, d.EmbeddingDim),
            Hidden = hidden is [0] ? [] : hidden,
            Dropout = Pick(_dropout, d.Dropout),
            ItemIdDropout = r.GetValue(_itemIdDropout),
            HistoryLength = Pick(_history, d.HistoryLength),
            RecentLength = Pick(_recent, d.RecentLength),
            BehaviourGate = r.GetValue(_gate),
            PropagationLayers = r.GetValue(_propagation),
            SpectralRank = r.GetResult(_spectralRank) is { Implicit: false } ? ParseRank(r.GetValue(_spectralRank)!) : d.SpectralRank,
            UserEncoder = userEncoder,
            Blocks = r.GetValue(_blocks),
            Heads = r.GetValue(_heads),
            Norm = r.GetValue(_norm)!,
            MaxLength = r.GetValue(_maxLength),
            ItemAttributes = r.GetValue(_itemAttributes),
            Trainer = D.Trainer with
            {
                Epochs = Pick(_epochs, d.Epochs), BatchSize = Pick(_batch, d.BatchSize), LearningRate = Pick(_lr, d.LearningRate), WeightDecay = Pick(_weightDecay, d.WeightDecay),
                DecayAllParameters = r.GetValue(_decay)!.ToLowerInvariant() switch
                {
                    "all" => true,
                    "matrices" => false,
                    var v => throw new ArgumentException($"--weight-decay-on must be all or matrices, got '{v}'"),
                },
                Patience = Pick(_patience, d.Patience), SelectBy = selectBy, CheckpointDir = r.GetValue(_checkpoints) ?? Path.Combine(runDir, "checkpoints"), SaveLimit = r.GetValue(_saveLimit), Resume = r.GetValue(_resume), Seed = seed,
                // The sequence encoder trains at a constant rate from the first step, as SASRec does.
                Schedule = sequence ? Optim.ScheduleKind.Constant : D.Trainer.Schedule,
                WarmupFraction = sequence ? 0 : D.Trainer.WarmupFraction,
            },
            Loss = D.Loss with
            {
                Kind = r.GetValue(_loss)!.ToLowerInvariant() switch
                {
                    "infonce" => LossKind.InfoNce,
                    "ccl" => LossKind.Ccl,
                    var v => throw new ArgumentException($"--loss must be infonce or ccl, got '{v}'"),
                },
                NumNegatives = Pick(_negatives, d.NumNegatives), SharedNegatives = r.GetValue(_sharedNegatives), Sampler = sampler,
                Temperature = Pick(_temperature, d.Temperature), LogQCorrection = !r.GetValue(_noLogQ),
                Margin = r.GetValue(_margin), NegativeWeight = r.GetValue(_negativeWeight),
            },
            Index = r.GetValue(_index)!,
            M = r.GetValue(_m),
            EfConstruction = r.GetValue(_efc),
            EfSearch = r.GetValue(_efs),
            Storage = r.GetValue(_storage)!,
            Refine = r.GetValue(_refine),
            RefineStorage = r.GetValue(_refineStorage)!,
            Bundle = r.GetValue(_bundle)!,
            RunDir = runDir,
            SkipBenchmark = r.GetValue(_skipBenchmark),
            TopK = r.GetValue(_topK),
            EvalUsers = r.GetValue(_evalUsers),
        };
    }

    private static int ParseRank(string value) =>
        value.Equals("auto", StringComparison.OrdinalIgnoreCase) ? PipelineOptions.AutoRank
        : int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int rank) ? rank
        : throw new ArgumentException($"--spectral-rank must be auto, 0 or a positive rank, got '{value}'");
}
