using System.Diagnostics;
using System.Globalization;
using VectorRecall.Autograd;
using VectorRecall.Numerics;
using VectorRecall.Optim;
using VectorRecall.TwoTower;

namespace VectorRecall.SemanticIds;

/// <summary>Training settings of <see cref="RqVaeTrainer"/> (the design note's flags and defaults).</summary>
public sealed record RqVaeTrainerOptions
{
    public int Epochs { get; init; } = 200;
    public int BatchSize { get; init; } = 1024;
    public double LearningRate { get; init; } = 1e-3;
    public double WeightDecay { get; init; } = 1e-4;
    public ScheduleKind Schedule { get; init; } = ScheduleKind.Constant;
    /// <summary>Linear warm-up, in epochs (cut to the run's length when longer).</summary>
    public int WarmupEpochs { get; init; } = 50;
    /// <summary>Every this many epochs (and after the last): collision rate and utilisation over all items, and checkpoints.</summary>
    public int EvalStep { get; init; } = 50;
    /// <summary>How many of the most recent <c>epoch_N</c> checkpoints to keep.</summary>
    public int SaveLimit { get; init; } = 5;
    public bool KMeansInit { get; init; } = true;
    /// <summary>Initialise from one k-means over a random sample of up to <see cref="LargeScaleSample"/> items instead of the first batch.</summary>
    public bool LargeScaleKMeans { get; init; } = true;
    public int KMeansIters { get; init; } = 100;
    /// <summary>After each epoch, codewords that no item chose in it are re-seeded with residuals of a random batch.</summary>
    public bool ReseedDeadCodes { get; init; } = true;
    public const int LargeScaleSample = 20_000;
    public ulong Seed { get; init; } = 42;

    public void Validate()
    {
        if (Epochs < 1) throw new ArgumentException($"--epochs must be positive, got {Epochs}");
        if (BatchSize < 2) throw new ArgumentException($"--batch-size must be at least 2, got {BatchSize}");
        if (!(LearningRate > 0)) throw new ArgumentException($"--lr must be positive, got {LearningRate}");
        if (!(WeightDecay >= 0)) throw new ArgumentException($"--weight-decay must be >= 0, got {WeightDecay}");
        if (WarmupEpochs < 0) throw new ArgumentException($"--warmup-epochs must be >= 0, got {WarmupEpochs}");
        if (EvalStep < 1) throw new ArgumentException($"--eval-step must be positive, got {EvalStep}");
        if (SaveLimit < 0) throw new ArgumentException($"--save-limit must be >= 0, got {SaveLimit}");
        if (KMeansIters < 1) throw new ArgumentException($"--kmeans-iters must be positive, got {KMeansIters}");
    }
}

/// <summary>One training step's progress.</summary>
public sealed record RqVaeStep(int Epoch, int Step, int StepsPerEpoch, double MeanLoss);

/// <summary>One epoch: mean losses, its time, and (on eval epochs) the evaluation and the checkpoints written.</summary>
public sealed record RqVaeEpoch(int Epoch, double Loss, double ReconstructionLoss, double QuantizationLoss, double LearningRate, double Seconds,
    RqVaeEvaluation? Evaluation, IReadOnlyList<string> Saved);

/// <summary>
/// Trains an RQ-VAE on item vectors: optional k-means initialisation of the codebooks, then epochs of
/// shuffled mini-batches with AdamW and a constant, linear or cosine learning rate after a linear
/// warm-up. Every <see cref="RqVaeTrainerOptions.EvalStep"/> epochs it measures the collision rate and
/// utilisation over all items and writes, into its run folder (a time-stamped folder under the
/// checkpoint directory), <c>epoch_N</c> (the <see cref="RqVaeTrainerOptions.SaveLimit"/> most recent kept),
/// <c>best_loss</c>, <c>best_collision</c> and <c>best_utilization</c>; <c>train.log</c> records every epoch.
/// Cancelled, it writes <c>interrupted</c> and throws.
/// </summary>
public sealed class RqVaeTrainer
{
    private readonly RqVae _model;
    private readonly Tensor _data;
    private readonly RqVaeTrainerOptions _options;
    private readonly string? _dataPath;
    private readonly AdamW _optimizer;
    private readonly LrSchedule _schedule;
    private readonly Queue<string> _recent = new();
    private double _bestLoss = double.PositiveInfinity, _bestCollision = double.PositiveInfinity, _bestUtilization = double.NegativeInfinity;
    private int _globalStep;

    public RqVaeTrainer(RqVae model, Tensor data, RqVaeTrainerOptions options, string checkpointDir, string? dataPath = null)
    {
        options.Validate();
        if (data.Rank != 2 || data.Cols != model.Config.InDim)
            throw new ArgumentException($"the model takes {model.Config.InDim}-d vectors, the data is {Tensor.ShapeString(data.Shape)}");
        if (data.Rows < model.Config.NumEmbList.Max())
            throw new ArgumentException($"{data.Rows} items are fewer than a codebook's {model.Config.NumEmbList.Max()} codes: use smaller --num-emb-list sizes (at most the item count)");
        _model = model;
        _data = data;
        _options = options;
        _dataPath = dataPath;
        StepsPerEpoch = (data.Rows + options.BatchSize - 1) / options.BatchSize;
        _optimizer = new AdamW(model.Parameters(), options.LearningRate, weightDecay: options.WeightDecay);
        int total = options.Epochs * StepsPerEpoch;
        _schedule = new LrSchedule(options.Schedule, options.LearningRate, total, Math.Min(total, options.WarmupEpochs * StepsPerEpoch));
        RunDirectory = Path.Combine(checkpointDir, DateTime.Now.ToString("MMM-dd-yyyy_HH-mm-ss", CultureInfo.InvariantCulture));
    }

    /// <summary>The time-stamped folder this run writes its checkpoints and log into.</summary>
    public string RunDirectory { get; }
    public string LogPath => Path.Combine(RunDirectory, "train.log");
    public int StepsPerEpoch { get; }

    public Action<RqVaeStep>? StepCompleted { get; set; }
    public Action<RqVaeEpoch>? EpochCompleted { get; set; }
    /// <summary>Told what the trainer is doing (initialisation, each level's k-means).</summary>
    public Action<string>? Status { get; set; }

    public string CheckpointPath(string name) => Path.Combine(RunDirectory, name + ".safetensors");

    public IReadOnlyList<RqVaeEpoch> Train(CancellationToken cancel = default)
    {
        Directory.CreateDirectory(RunDirectory);
        using var log = new StreamWriter(LogPath, append: true) { AutoFlush = true };
        log.WriteLine($"# {DateTime.Now:O} RQ-VAE {_model.Config.ToJson()}");
        log.WriteLine($"# {_options}");
        if (_options.KMeansInit && !_model.Quantizer.Initialized) InitializeCodebooks(log);
        var results = new List<RqVaeEpoch>();
        var order = new int[_data.Rows];
        var batch = new Tensor(Math.Min(_options.BatchSize, _data.Rows), _data.Cols);
        for (int epoch = 1; epoch <= _options.Epochs; epoch++)
        {
            var clock = Stopwatch.StartNew();
            var rng = new Rng(_options.Seed ^ (0x9E3779B97F4A7C15UL * (ulong)epoch));
            for (int i = 0; i < order.Length; i++) order[i] = i;
            rng.Shuffle(order.AsSpan());
            double loss = 0, reconstruction = 0, quantization = 0;
            int steps = 0;
            var used = _model.Config.NumEmbList.Select(k => new bool[k]).ToArray();
            _model.Train();
            for (int start = 0; start < order.Length; start += _options.BatchSize)
            {
                int n = Math.Min(_options.BatchSize, order.Length - start);
                if (n < 2 && _model.Config.BatchNorm) break;  // batch norm cannot train on one row
                if (cancel.IsCancellationRequested)
                {
                    Save("interrupted", epoch - 1);
                    log.WriteLine($"interrupted in epoch {epoch}; weights of epoch {epoch - 1} in {CheckpointPath("interrupted")}");
                    cancel.ThrowIfCancellationRequested();
                }
                var x = batch.RowRange(0, n);
                for (int i = 0; i < n; i++) _data.Row(order[start + i]).CopyTo(x.Row(i));
                _schedule.Apply(_optimizer, _globalStep++);
                using (var tape = new Tape(pooled: true))
                {
                    var output = _model.Forward(x);
                    tape.Backward(output.Loss);
                    loss += output.Loss.Value[0];
                    reconstruction += output.ReconstructionLoss.Value[0];
                    quantization += output.QuantizationLoss.Value[0];
                    for (int i = 0; i < output.Codes.Length; i++) used[i % used.Length][output.Codes[i]] = true;
                }
                _optimizer.Step();
                _optimizer.ZeroGrad();
                steps++;
                StepCompleted?.Invoke(new RqVaeStep(epoch, steps, StepsPerEpoch, loss / steps));
            }
            double seconds = clock.Elapsed.TotalSeconds;
            steps = Math.Max(1, steps);
            bool evaluate = epoch % _options.EvalStep == 0 || epoch == _options.Epochs;
            RqVaeEvaluation? evaluation = null;
            var saved = new List<string>();
            if (evaluate)
            {
                evaluation = RqVaeEvaluation.Of(_model, _data);
                saved.AddRange(SaveCheckpoints(epoch, loss / steps, evaluation));
            }
            string reseeded = epoch < _options.Epochs && _options.ReseedDeadCodes ? Reseed(used, rng) : "";
            var result = new RqVaeEpoch(epoch, loss / steps, reconstruction / steps, quantization / steps, _optimizer.LearningRate, seconds, evaluation, saved);
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"epoch {epoch} loss {result.Loss:G6} reconstruction {result.ReconstructionLoss:G6} quantization {result.QuantizationLoss:G6} lr {result.LearningRate:G4} seconds {seconds:F3}")
                + reseeded + (evaluation is null ? "" : $" | {evaluation}"));
            results.Add(result);
            EpochCompleted?.Invoke(result);
        }
        return results;
    }

    /// <summary>k-means on each level's residuals of the encoder's output for a random sample (large-scale) or the first batch.</summary>
    private void InitializeCodebooks(StreamWriter log)
    {
        int sample = _options.LargeScaleKMeans ? Math.Min(RqVaeTrainerOptions.LargeScaleSample, _data.Rows) : Math.Min(_options.BatchSize, _data.Rows);
        var rng = new Rng(_options.Seed ^ 0xC0DEB00CUL);
        var rows = new int[_data.Rows];
        for (int i = 0; i < rows.Length; i++) rows[i] = i;
        rng.Shuffle(rows.AsSpan());
        int largest = _model.Config.NumEmbList.Max();
        if (sample < largest)
            throw new ArgumentException($"k-means initialisation on {sample} vectors cannot fill a codebook of {largest}: use --large-scale-kmeans, a larger --batch-size or smaller codebooks");
        var points = new Tensor(sample, _data.Cols);
        for (int i = 0; i < sample; i++) _data.Row(rows[i]).CopyTo(points.Row(i));
        string what = _options.LargeScaleKMeans ? $"a random sample of {sample:N0} items" : $"the first batch ({sample:N0} items)";
        Status?.Invoke($"k-means initialisation of {_model.Quantizer.Levels} codebooks on {what}, {_options.KMeansIters} iterations");
        var clock = Stopwatch.StartNew();
        var latent = _model.EncodeLatent(points);
        _model.Quantizer.InitializeByKMeans(latent, _options.KMeansIters, rng,
            new Progress<int>(l => Status?.Invoke($"  level {l} of {_model.Quantizer.Levels} initialised")));
        log.WriteLine($"k-means initialisation on {what}: {clock.Elapsed.TotalSeconds:F1} s");
    }

    /// <summary>Re-seeds the epoch's unused codewords from a random batch of items; returns a note for the log ("" when none).</summary>
    private string Reseed(bool[][] used, Rng rng)
    {
        if (used.All(level => level.All(u => u))) return "";
        int n = Math.Min(_options.BatchSize, _data.Rows);
        var sample = new Tensor(n, _data.Cols);
        for (int i = 0; i < n; i++) _data.Row(rng.NextInt(_data.Rows)).CopyTo(sample.Row(i));
        var counts = _model.Quantizer.ReseedDeadCodes(_model.EncodeLatent(sample), used, rng);
        return $" reseeded {string.Join("/", counts)}";
    }

    private IEnumerable<string> SaveCheckpoints(int epoch, double loss, RqVaeEvaluation evaluation)
    {
        var saved = new List<string>();
        if (_options.SaveLimit > 0)
        {
            saved.Add(Save($"epoch_{epoch}", epoch));
            _recent.Enqueue(CheckpointPath($"epoch_{epoch}"));
            while (_recent.Count > _options.SaveLimit) File.Delete(_recent.Dequeue());
        }
        if (loss < _bestLoss) { _bestLoss = loss; saved.Add(Save("best_loss", epoch)); }
        if (evaluation.CollisionRate < _bestCollision) { _bestCollision = evaluation.CollisionRate; saved.Add(Save("best_collision", epoch)); }
        if (evaluation.MeanUtilization > _bestUtilization) { _bestUtilization = evaluation.MeanUtilization; saved.Add(Save("best_utilization", epoch)); }
        return saved;
    }

    private string Save(string name, int epoch)
    {
        string path = CheckpointPath(name);
        RqVaeCheckpoint.Save(path, _model, new CheckpointInfo(epoch, _globalStep, _bestLoss), _dataPath);
        return path;
    }
}
