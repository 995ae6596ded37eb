using System.Diagnostics;
using VectorRecall.Autograd;
using VectorRecall.Data;
using VectorRecall.Numerics;
using VectorRecall.Optim;

namespace VectorRecall.TwoTower;

/// <summary>How to train (the design note's defaults: 5 epochs, batch 1024, AdamW at 1e-3, 10 negatives, τ = 0.1).</summary>
public sealed record TrainerOptions
{
    public int Epochs { get; init; } = 5;
    public int BatchSize { get; init; } = 1024;
    public double LearningRate { get; init; } = 1e-3;
    public double WeightDecay { get; init; } = 0.01;
    /// <summary>Share of all steps spent warming the learning rate up linearly; a cosine decay to a tenth follows.</summary>
    public double WarmupFraction { get; init; } = 0.05;
    public float Temperature { get; init; } = 0.1f;
    /// <summary>Sampled negatives per example, or in all when <see cref="SharedNegatives"/>.</summary>
    public int NumNegatives { get; init; } = 10;
    /// <summary>Draw one set of negatives per batch that every example scores (mixed negative sampling).</summary>
    public bool SharedNegatives { get; init; }
    public SamplerKind Sampler { get; init; } = SamplerKind.Uniform;
    public bool LogQCorrection { get; init; } = true;
    /// <summary>What makes an epoch the best one (for <c>best_model</c> and <see cref="Patience"/>).</summary>
    public ModelSelection SelectBy { get; init; } = ModelSelection.Loss;
    /// <summary>Stop after this many epochs without a better validation score (0: never stop early).</summary>
    public int Patience { get; init; }
    public string CheckpointDir { get; init; } = "checkpoints";
    public bool Resume { get; init; }
    public ulong Seed { get; init; } = 42;

    public void Validate()
    {
        if (Epochs < 1) throw new ArgumentException($"--epochs must be at least 1, got {Epochs}");
        if (BatchSize < 2) throw new ArgumentException($"--batch-size must be at least 2 (batch norm needs two rows), got {BatchSize}");
        if (!(LearningRate > 0)) throw new ArgumentException($"--lr must be positive, got {LearningRate}");
        if (!(WeightDecay >= 0)) throw new ArgumentException($"weight decay must be non-negative, got {WeightDecay}");
        if (WarmupFraction is < 0 or >= 1) throw new ArgumentException($"warmup fraction must be in [0, 1), got {WarmupFraction}");
        if (!(Temperature > 0)) throw new ArgumentException($"--temperature must be positive, got {Temperature}");
        if (NumNegatives < 0) throw new ArgumentException($"--num-negatives must be non-negative, got {NumNegatives}");
        if (Patience < 0) throw new ArgumentException($"--patience must be non-negative, got {Patience}");
    }
}

/// <summary>
/// How the best epoch is chosen: the lowest validation loss, or the highest validation Recall@20 of
/// exact search over all items (train items excluded). The loss keeps rising long after the
/// ranking has stopped improving (the model grows confident, not wrong), so on real data the
/// ranking is the better judge; it costs one all-item ranking of the validation users per epoch.
/// </summary>
public enum ModelSelection { Loss, Recall }

public sealed record StepInfo(int Epoch, int Step, int StepsInEpoch, double RunningLoss, double StepsPerSecond);

public sealed record EpochResult(int Epoch, double TrainLoss, double ValidationLoss, double LearningRate, double Seconds, double SamplesPerSecond, IReadOnlyList<string> Saved)
{
    /// <summary>Validation Recall@20 when the trainer selects by recall, NaN otherwise.</summary>
    public double ValidationRecall { get; init; } = double.NaN;
}

/// <summary>
/// Trains a <see cref="TwoTowerModel"/> on a data set's training split with InfoNCE, evaluates the
/// validation loss (and, when selecting by it, recall) after each epoch, and writes checkpoints:
/// <c>checkpoint_epoch_N</c> after each epoch, <c>best_model</c> (weights only) whenever the
/// selection score (<see cref="TrainerOptions.SelectBy"/>) improves, and
/// <c>checkpoint_interrupted</c> when cancelled. <see cref="TrainerOptions.Resume"/> continues from
/// the latest of them. A training example is one (user, item) interaction; the user's behaviour is
/// the items before it in time (for unordered data, a window of the user's other items).
/// </summary>
public sealed class TwoTowerTrainer
{
    private readonly TwoTowerModel _model;
    private readonly RecDataset _data;
    private readonly TrainerOptions _o;
    private readonly AdamW _optimizer;
    private readonly NegativeSampler _sampler;
    private readonly float[] _positiveLogQ;
    private readonly InfoNceLoss _loss;
    private readonly int[] _exampleUser, _examplePosition;
    private readonly (int[] User, int[] Position) _validationExamples;
    private int _globalStep, _completedEpochs, _bestEpoch;
    private double _bestValidationLoss = double.PositiveInfinity, _bestValidationRecall = double.NegativeInfinity;

    public TwoTowerTrainer(TwoTowerModel model, RecDataset data, TrainerOptions options)
    {
        options.Validate();
        var c = model.Config;
        if (c.NumUsers != data.UserCount || c.NumItems != data.ItemCount || c.UserFeatures != data.UserFeatures.Cols
            || c.ItemFeatures != data.Items.FeatureCount || c.Categories != data.Items.CategoryCount || c.Tags != data.Items.TagCount)
            throw new ArgumentException("the model's configuration does not match the data set's sizes");
        _model = model;
        _data = data;
        _o = options;
        _optimizer = new AdamW(model.Parameters(), options.LearningRate, weightDecay: options.WeightDecay);
        var counts = data.Train.ItemCounts(data.ItemCount);
        _sampler = new NegativeSampler(options.Sampler, counts);
        // An in-batch candidate is some example's positive: q is the item's share of training interactions.
        _positiveLogQ = new float[data.ItemCount];
        double total = Math.Max(1, data.Train.Count);
        for (int i = 0; i < counts.Length; i++) _positiveLogQ[i] = (float)Math.Log(Math.Max(counts[i], 1) / total);
        _loss = new InfoNceLoss(options.Temperature, options.LogQCorrection);
        (_exampleUser, _examplePosition) = Examples(data.Train);
        _validationExamples = Examples(data.Validation);
        StepsPerEpoch = (_exampleUser.Length + options.BatchSize - 1) / options.BatchSize;
        Schedule = new LrSchedule(ScheduleKind.Cosine, options.LearningRate, options.Epochs * StepsPerEpoch,
            warmupSteps: (int)(options.WarmupFraction * options.Epochs * StepsPerEpoch), minRate: options.LearningRate / 10);
    }

    public int StepsPerEpoch { get; }
    public LrSchedule Schedule { get; }
    public int CompletedEpochs => _completedEpochs;
    public double BestValidationLoss => _bestValidationLoss;
    public double BestValidationRecall => _bestValidationRecall;
    /// <summary>The K of the validation recall that <see cref="ModelSelection.Recall"/> uses.</summary>
    public const int SelectionK = 20;

    /// <summary>Called after every step (from the training thread).</summary>
    public Action<StepInfo>? StepCompleted { get; set; }

    /// <summary>Called after every epoch, once its checkpoints are written.</summary>
    public Action<EpochResult>? EpochCompleted { get; set; }

    public string CheckpointPath(string name) => Path.Combine(_o.CheckpointDir, name + ".safetensors");

    /// <summary>Loads the most advanced checkpoint in the checkpoint folder; returns its path.</summary>
    public string ResumeFromLatest()
    {
        var candidates = Directory.Exists(_o.CheckpointDir)
            ? Directory.GetFiles(_o.CheckpointDir, "checkpoint_*.safetensors") : [];
        if (candidates.Length == 0) throw new FileNotFoundException($"--resume: no checkpoint_*.safetensors in '{Path.GetFullPath(_o.CheckpointDir)}'");
        // The global step orders checkpoints even when an interrupted one and an epoch one share an epoch.
        var latest = candidates.Select(p => (Path: p, Step: GlobalStepOf(p))).MaxBy(c => c.Step).Path;
        var info = TrainingCheckpoint.Load(latest, _model, _optimizer);
        _completedEpochs = info.CompletedEpochs;
        _globalStep = info.GlobalStep;
        _bestValidationLoss = info.BestValidationLoss;
        _bestValidationRecall = info.BestValidationRecall;
        _bestEpoch = info.BestEpoch;
        return latest;
    }

    private static int GlobalStepOf(string path) =>
        int.TryParse(IO.SafeTensors.ReadMetadata(path).GetValueOrDefault("global_step"), out int s) ? s : -1;

    /// <summary>The epoch whose weights are in <c>best_model</c> (0 before any).</summary>
    public int BestEpoch => _bestEpoch;

    /// <summary>True when the last <see cref="Train"/> ended early because the validation loss stopped improving.</summary>
    public bool StoppedEarly { get; private set; }

    /// <summary>
    /// Puts <c>best_model</c>'s weights (lowest validation loss) into the model, when training had a
    /// validation split and a later epoch was worse; returns the epoch the weights come from.
    /// </summary>
    public int RestoreBest()
    {
        string path = CheckpointPath("best_model");
        if (_bestEpoch == 0 || _bestEpoch == _completedEpochs || !File.Exists(path)) return _completedEpochs;
        TrainingCheckpoint.Load(path, _model);
        return _bestEpoch;
    }

    /// <summary>Runs the remaining epochs. On cancellation, saves <c>checkpoint_interrupted</c> and throws <see cref="OperationCanceledException"/>.</summary>
    public IReadOnlyList<EpochResult> Train(CancellationToken cancel = default)
    {
        if (_o.Resume && _completedEpochs == 0 && _globalStep == 0) ResumeFromLatest();
        Directory.CreateDirectory(_o.CheckpointDir);
        var results = new List<EpochResult>();
        for (int epoch = _completedEpochs + 1; epoch <= _o.Epochs; epoch++)
        {
            var clock = Stopwatch.StartNew();
            double trainLoss = TrainEpoch(epoch, cancel);
            double seconds = clock.Elapsed.TotalSeconds;
            double valLoss = ValidationLoss();
            double valRecall = _o.SelectBy == ModelSelection.Recall ? ValidationRecall() : double.NaN;
            _completedEpochs = epoch;
            var saved = new List<string>();
            // Without a validation split (NaN) every epoch's weights become the best model.
            bool best = _o.SelectBy == ModelSelection.Recall
                ? double.IsNaN(valRecall) || valRecall > _bestValidationRecall
                : double.IsNaN(valLoss) || valLoss < _bestValidationLoss;
            if (valLoss < _bestValidationLoss) _bestValidationLoss = valLoss;
            if (valRecall > _bestValidationRecall) _bestValidationRecall = valRecall;
            if (best) _bestEpoch = epoch;
            var info = new CheckpointInfo(_completedEpochs, _globalStep, _bestValidationLoss, _bestEpoch, _bestValidationRecall);
            string path = CheckpointPath($"checkpoint_epoch_{epoch}");
            TrainingCheckpoint.Save(path, _model, _optimizer, info);
            saved.Add(path);
            if (best)
            {
                TrainingCheckpoint.Save(CheckpointPath("best_model"), _model, null, info);
                saved.Add(CheckpointPath("best_model"));
            }
            var result = new EpochResult(epoch, trainLoss, valLoss, _optimizer.LearningRate, seconds, _exampleUser.Length / seconds, saved) { ValidationRecall = valRecall };
            results.Add(result);
            EpochCompleted?.Invoke(result);
            if (_o.Patience > 0 && epoch - _bestEpoch >= _o.Patience && _bestEpoch > 0)
            {
                StoppedEarly = true;
                break;
            }
        }
        return results;
    }

    private double TrainEpoch(int epoch, CancellationToken cancel)
    {
        _model.Train();
        var rng = new Rng(_o.Seed ^ (0x5851F42D4C957F2DUL * (ulong)epoch));
        var order = new int[_exampleUser.Length];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        rng.Shuffle(order.AsSpan());
        double sum = 0;
        int steps = 0;
        var clock = Stopwatch.StartNew();
        // The next batch is gathered on another core while this one trains; batches are still made
        // one after another from the same generator, so the run is as deterministic as before.
        Task<Batch>? next = null;
        for (int start = 0; start < order.Length; start += _o.BatchSize)
        {
            int b = Math.Min(_o.BatchSize, order.Length - start);
            if (b < 2) break;  // batch norm cannot train on one row
            if (cancel.IsCancellationRequested)
            {
                next?.Wait(CancellationToken.None);
                TrainingCheckpoint.Save(CheckpointPath("checkpoint_interrupted"), _model, _optimizer, new CheckpointInfo(_completedEpochs, _globalStep, _bestValidationLoss, _bestEpoch, _bestValidationRecall));
                cancel.ThrowIfCancellationRequested();
            }
            var batch = next?.Result ?? Prepare(_data.Train, (_exampleUser, _examplePosition), order, start, b, rng, train: true);
            int nextStart = start + _o.BatchSize, nextCount = Math.Min(_o.BatchSize, order.Length - nextStart);
            next = nextCount >= 2 ? Task.Run(() => Prepare(_data.Train, (_exampleUser, _examplePosition), order, nextStart, nextCount, rng, train: true)) : null;
            Schedule.Apply(_optimizer, _globalStep);
            float loss = Run(batch, train: true);
            _globalStep++;
            sum += loss;
            steps++;
            StepCompleted?.Invoke(new StepInfo(epoch, steps, StepsPerEpoch, sum / steps, steps / clock.Elapsed.TotalSeconds));
        }
        next?.Wait(CancellationToken.None);
        return sum / Math.Max(1, steps);
    }

    /// <summary>Mean InfoNCE loss over the validation interactions (evaluation mode, fixed negatives).</summary>
    public double ValidationLoss()
    {
        int count = _validationExamples.User.Length;
        if (count < 2) return double.NaN;
        _model.Eval();
        var rng = new Rng(_o.Seed ^ 0x7F4A7C15UL);
        double sum = 0;
        int batches = 0;
        var index = new int[count];
        for (int i = 0; i < index.Length; i++) index[i] = i;
        Tape.NoGrad(() =>
        {
            for (int start = 0; start < index.Length; start += _o.BatchSize)
            {
                int b = Math.Min(_o.BatchSize, index.Length - start);
                if (b < 2) break;
                sum += Run(Prepare(_data.Validation, _validationExamples, index, start, b, rng, train: false), train: false);
                batches++;
            }
            return 0;
        });
        _model.Train();
        return sum / Math.Max(1, batches);
    }

    /// <summary>
    /// Recall@<see cref="SelectionK"/> of exact search over all items for the users with validation
    /// items, their train items excluded and their train history as behaviour; NaN without validation.
    /// </summary>
    public double ValidationRecall()
    {
        var users = Enumerable.Range(0, _data.UserCount).Where(u => _data.Validation.CountOf(u) > 0).ToArray();
        if (users.Length == 0) return double.NaN;
        var items = TowerEncoder.EncodeItems(_model.Item, _data.Items);
        var queries = TowerEncoder.EncodeUsers(_model.User, UserBatch.Gather(users, _data.UserFeatures, _data.Train, _model.Config.HistoryLength));
        using var flat = TowerEncoder.BuildIndex(items, "Flat");
        int k = Math.Min(SelectionK, _data.ItemCount);
        return Evaluation.RetrievalEvaluator.Evaluate(flat, queries, users, _data.Validation, _data.Train, [k]).Get(Evaluation.RankingMetric.Recall, k);
    }

    /// <summary>One batch's inputs: users with their behaviour, then positives and the sampled negatives (B·n, or n shared) for the item tower.</summary>
    private sealed record Batch(UserBatch Users, ItemBatch Items, int Size, int[] ItemIds, float[] PositiveLogQ, float[] NegativeLogQ);

    /// <summary>
    /// Gathers examples <c>order[start .. start + count)</c>: each user's behaviour before the example
    /// (for validation: all of training), its positive item, and sampled negatives with their log q.
    /// For training, cutoffs[r] is the example's position in the user's list.
    /// </summary>
    private Batch Prepare(UserItemLists split, (int[] User, int[] Position) ex, int[] order, int start, int count, Rng rng, bool train)
    {
        int b = count, negatives = _o.SharedNegatives ? _o.NumNegatives : b * _o.NumNegatives;
        var users = new int[b];
        var cutoffs = new int[b];
        var items = new int[b + negatives];
        for (int r = 0; r < b; r++)
        {
            int e = order[start + r];
            users[r] = ex.User[e];
            items[r] = split.Of(users[r])[ex.Position[e]];
            cutoffs[r] = train ? ex.Position[e] : _data.Train.CountOf(users[r]);
        }
        _sampler.Fill(items.AsSpan(b), rng);
        var positiveLogQ = new float[b];
        for (int r = 0; r < b; r++) positiveLogQ[r] = _positiveLogQ[items[r]];
        var negativeLogQ = new float[negatives];
        for (int j = 0; j < negativeLogQ.Length; j++) negativeLogQ[j] = _sampler.LogProbability(items[b + j]);
        UserBatch userBatch;
        if (train && !_data.Chronological)
        {
            // No time order: the behaviour is a random window of the user's other items.
            var starts = new int[b];
            for (int r = 0; r < b; r++) starts[r] = rng.NextInt(split.CountOf(users[r]));
            userBatch = UserBatch.GatherOthers(users, _data.UserFeatures, _data.Train, _model.Config.HistoryLength, cutoffs, starts);
        }
        else userBatch = UserBatch.Gather(users, _data.UserFeatures, _data.Train, _model.Config.HistoryLength, cutoffs);
        return new Batch(userBatch, ItemBatch.Gather(_data.Items, items), b, items, positiveLogQ, negativeLogQ);
    }

    /// <summary>The loss of a batch; when training, also backward and an optimiser step.</summary>
    private float Run(Batch batch, bool train)
    {
        if (!train) return Loss(batch).Value[0];
        // A pooled tape: the step's activations and gradients reuse the previous step's arrays.
        using var tape = new Tape(pooled: true);
        var loss = Loss(batch);
        tape.Backward(loss);
        _optimizer.Step();
        _optimizer.ZeroGrad();
        return loss.Value[0];
    }

    private Variable Loss(Batch batch)
    {
        int b = batch.Size;
        var u = _model.User.Forward(batch.Users);
        var all = _model.Item.Forward(batch.Items);
        var positives = Ops.SliceRows(all, 0, b);
        var negatives = all.Rows > b ? Ops.SliceRows(all, b, all.Rows - b) : null;
        return _loss.Forward(u, positives, batch.ItemIds.AsSpan(0, b), batch.PositiveLogQ, negatives, batch.ItemIds.AsSpan(b), batch.NegativeLogQ, _o.SharedNegatives);
    }

    /// <summary>Every interaction of a split as (user, position in the user's list).</summary>
    private static (int[] User, int[] Position) Examples(UserItemLists split)
    {
        var user = new int[split.Count];
        var position = new int[split.Count];
        for (int u = 0, k = 0; u < split.UserCount; u++)
            for (int p = 0; p < split.CountOf(u); p++, k++) { user[k] = u; position[k] = p; }
        return (user, position);
    }
}
