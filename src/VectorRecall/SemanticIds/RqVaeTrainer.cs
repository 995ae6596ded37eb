using System.Globalization;
using VectorRecall.Autograd;
using VectorRecall.Numerics;
using VectorRecall.Optim;
using VectorRecall.Training;

namespace VectorRecall.SemanticIds;

/// <summary>RQ-VAE settings of <see cref="RqVaeTrainer"/> beside the shared loop's (the design note's flags and defaults).</summary>
public sealed record RqVaeTrainerOptions
{
    public bool KMeansInit { get; init; } = true;
    /// <summary>Initialise from one k-means over a random sample of up to <see cref="LargeScaleSample"/> items instead of the first batch.</summary>
    public bool LargeScaleKMeans { get; init; } = true;
    public int KMeansIters { get; init; } = 100;
    /// <summary>After each epoch, codewords that no item chose in it are re-seeded with residuals of a random batch.</summary>
    public bool ReseedDeadCodes { get; init; } = true;
    public const int LargeScaleSample = 20_000;

    /// <summary>
    /// The design note's loop settings: 200 epochs of batch 1024, AdamW at 1e-3 with weight decay 1e-4,
    /// constant rate after 50 warm-up epochs, checkpoints and measurements every 50 epochs, the 5 latest kept.
    /// </summary>
    public static TrainerOptions Loop(int epochs = 200, int warmupEpochs = 50) => new()
    {
        Epochs = epochs, BatchSize = 1024, LearningRate = 1e-3, WeightDecay = 1e-4, Schedule = ScheduleKind.Constant,
        WarmupFraction = WarmupFraction(warmupEpochs, epochs), SaveEvery = 50, SaveLimit = 5,
    };

    /// <summary>Warm-up epochs as the loop's share of all steps (cut to the run's length when longer).</summary>
    public static double WarmupFraction(int warmupEpochs, int epochs) => epochs < 1 ? 0 : Math.Clamp((double)warmupEpochs / epochs, 0, 1);

    public void Validate() => Settings.Check(KMeansIters >= 1, nameof(KMeansIters), $"must be positive, got {KMeansIters}");
}

/// <summary>
/// Trains an RQ-VAE on item vectors through the shared <see cref="EpochTrainer{TBatch}"/> loop (AdamW
/// over parameter groups, the schedule, checkpoints, interrupt and resume). Its own parts hook the
/// loop: k-means initialisation of the codebooks before the first step, re-seeding of codewords no
/// item chose after each epoch, and on checkpoint epochs the collision rate and utilisation over all
/// items with <c>best_collision</c> and <c>best_utilization</c> beside the loop's <c>best_model</c>
/// (lowest training loss: there is no validation split). <c>train.log</c> in the checkpoint folder records every epoch.
/// </summary>
public sealed class RqVaeTrainer : EpochTrainer<Tensor>
{
    private readonly RqVae _model;
    private readonly Tensor _data;
    private readonly RqVaeTrainerOptions _rq;
    private readonly string? _dataPath;
    private readonly Tensor?[] _buffers = new Tensor?[2];
    private readonly bool[][] _used;
    private double _reconstruction, _quantization;
    private int _steps;
    private double _bestCollision = double.PositiveInfinity, _bestUtilization = double.NegativeInfinity;

    public RqVaeTrainer(RqVae model, Tensor data, TrainerOptions options, RqVaeTrainerOptions? rq = null, string? dataPath = null)
        : base(model, options, CheckData(model, data).Rows)
    {
        _rq = rq ?? new RqVaeTrainerOptions();
        _rq.Validate();
        _model = model;
        _data = data;
        _dataPath = dataPath;
        _used = model.Config.NumEmbList.Select(k => new bool[k]).ToArray();
    }

    private static Tensor CheckData(RqVae model, Tensor data)
    {
        if (data.Rank != 2 || data.Cols != model.Config.InDim)
            throw new ArgumentException($"the model takes {model.Config.InDim}-d vectors, the data is {Tensor.ShapeString(data.Shape)}");
        if (data.Rows < model.Config.NumEmbList.Max())
            throw new ArgumentException($"{data.Rows} items are fewer than a codebook's {model.Config.NumEmbList.Max()} codes: use smaller codebooks (NumEmbList, at most the item count)");
        return data;
    }

    /// <summary>A new time-stamped run folder under <paramref name="root"/>, named so that folders sort by start time (<c>yyyyMMdd-HHmmss</c>).</summary>
    public static string NewRunDirectory(string root) => Path.Combine(root, DateTime.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture));

    public string LogPath => Path.Combine(Options.CheckpointDir, "train.log");

    private static readonly System.Text.Json.JsonSerializerOptions LogJson = new() { Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() }, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>Collision rate and utilisation of each checkpoint epoch so far.</summary>
    public IReadOnlyDictionary<int, RqVaeEvaluation> Evaluations => _evaluations;
    private readonly Dictionary<int, RqVaeEvaluation> _evaluations = [];

    /// <summary>Each epoch's mean reconstruction and quantisation losses (the parts of its training loss).</summary>
    public IReadOnlyList<(double Reconstruction, double Quantization)> LossParts => _lossParts;
    private readonly List<(double, double)> _lossParts = [];

    /// <summary>Told what the trainer is doing (initialisation, each level's k-means).</summary>
    public Action<string>? Status { get; set; }

    /// <summary>Rows <c>order[start ..]</c> copied into one of two buffers: the loop prepares one batch while the other trains.</summary>
    protected override Tensor PrepareBatch(int[] order, int start, int count, Rng rng)
    {
        var buffer = _buffers[start / Options.BatchSize % 2] ??= new Tensor(Math.Min(Options.BatchSize, _data.Rows), _data.Cols);
        var x = buffer.RowRange(0, count);
        for (int i = 0; i < count; i++) _data.Row(order[start + i]).CopyTo(x.Row(i));
        return x;
    }

    protected override Variable Loss(Tensor batch)
    {
        var output = _model.Forward(batch);
        _reconstruction += output.ReconstructionLoss.Value[0];
        _quantization += output.QuantizationLoss.Value[0];
        _steps++;
        for (int i = 0; i < output.Codes.Length; i++) _used[i % _used.Length][output.Codes[i]] = true;
        return output.Loss;
    }

    protected override int ValidationCount => 0;
    protected override Tensor PrepareValidationBatch(int[] order, int start, int count, Rng rng) => throw new InvalidOperationException("an RQ-VAE has no validation split");
    public override double ValidationRecall() => double.NaN;

    protected override void SaveCheckpoint(string path, Optimizer? optimizer, CheckpointInfo info) => RqVaeCheckpoint.Save(path, _model, info, _dataPath, optimizer);

    protected override CheckpointInfo LoadCheckpoint(string path, Optimizer? optimizer) => RqVaeCheckpoint.LoadInto(path, _model, optimizer);

    protected override void OnTrainingStart(bool resumed)
    {
        Log($"# {DateTime.Now:O} RQ-VAE {_model.Config.ToJson()}");
        // The options as JSON (enums by name), not a record's ToString.
        Log($"# options {System.Text.Json.JsonSerializer.Serialize(new { trainer = Options, rqvae = _rq }, LogJson)}");
        if (_rq.KMeansInit && !resumed && !_model.Quantizer.Initialized) InitializeCodebooks();
    }

    protected override string OnEpochEnd(int epoch, double trainLoss, double seconds, bool checkpointEpoch, List<string> saved)
    {
        int steps = Math.Max(1, _steps);
        _lossParts.Add((_reconstruction / steps, _quantization / steps));
        string note = string.Create(CultureInfo.InvariantCulture, $"reconstruction {_reconstruction / steps:G6} quantization {_quantization / steps:G6}");
        (_reconstruction, _quantization, _steps) = (0, 0, 0);
        if (checkpointEpoch)
        {
            var evaluation = _evaluations[epoch] = RqVaeEvaluation.Of(_model, _data);
            if (evaluation.CollisionRate < _bestCollision) { _bestCollision = evaluation.CollisionRate; saved.Add(SaveBest("best_collision")); }
            if (evaluation.MeanUtilization > _bestUtilization) { _bestUtilization = evaluation.MeanUtilization; saved.Add(SaveBest("best_utilization")); }
            note += $" | {evaluation}";
        }
        if (epoch < Options.Epochs && _rq.ReseedDeadCodes) note += Reseed(new Rng(Options.Seed ^ (0x9E3779B97F4A7C15UL * (ulong)epoch)));
        foreach (var level in _used) Array.Clear(level);
        Log(string.Create(CultureInfo.InvariantCulture, $"epoch {epoch} loss {trainLoss:G6} lr {Optimizer.LearningRate:G4} seconds {seconds:F3} ") + note);
        return note;
    }

    private string SaveBest(string name)
    {
        string path = CheckpointPath(name);
        RqVaeCheckpoint.Save(path, _model, new CheckpointInfo(CompletedEpochs, 0, BestValidationLoss, BestEpoch), _dataPath);
        return path;
    }

    private void Log(string line) => File.AppendAllText(LogPath, line + Environment.NewLine);

    /// <summary>k-means on each level's residuals of the encoder's output for a random sample (large-scale) or the first batch.</summary>
    private void InitializeCodebooks()
    {
        int sample = _rq.LargeScaleKMeans ? Math.Min(RqVaeTrainerOptions.LargeScaleSample, _data.Rows) : Math.Min(Options.BatchSize, _data.Rows);
        var rng = new Rng(Options.Seed ^ 0xC0DEB00CUL);
        var rows = new int[_data.Rows];
        for (int i = 0; i < rows.Length; i++) rows[i] = i;
        rng.Shuffle(rows.AsSpan());
        int largest = _model.Config.NumEmbList.Max();
        if (sample < largest)
            throw new ArgumentException($"k-means initialisation on {sample} vectors cannot fill a codebook of {largest}: use large-scale k-means, a larger batch or smaller codebooks");
        var points = new Tensor(sample, _data.Cols);
        for (int i = 0; i < sample; i++) _data.Row(rows[i]).CopyTo(points.Row(i));
        string what = _rq.LargeScaleKMeans ? $"a random sample of {sample:N0} items" : $"the first batch ({sample:N0} items)";
        Status?.Invoke($"k-means initialisation of {_model.Quantizer.Levels} codebooks on {what}, {_rq.KMeansIters} iterations");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        _model.Quantizer.InitializeByKMeans(_model.EncodeLatent(points), _rq.KMeansIters, rng,
            new Progress<int>(l => Status?.Invoke($"  level {l} of {_model.Quantizer.Levels} initialised")));
        Log($"k-means initialisation on {what}: {clock.Elapsed.TotalSeconds:F1} s");
    }

    /// <summary>Re-seeds the epoch's unused codewords from a random batch of items; returns a note for the log ("" when none).</summary>
    private string Reseed(Rng rng)
    {
        if (_used.All(level => level.All(u => u))) return "";
        int n = Math.Min(Options.BatchSize, _data.Rows);
        var sample = new Tensor(n, _data.Cols);
        for (int i = 0; i < n; i++) _data.Row(rng.NextInt(_data.Rows)).CopyTo(sample.Row(i));
        var counts = _model.Quantizer.ReseedDeadCodes(_model.EncodeLatent(sample), _used, rng);
        return $" reseeded {string.Join("/", counts)}";
    }
}
