using System.Diagnostics;
using VectorRecall.Autograd;
using VectorRecall.IO;
using VectorRecall.Nn;
using VectorRecall.Numerics;
using VectorRecall.Optim;

namespace VectorRecall.Training;

/// <summary>
/// The training loop every model shares (two-tower, sequence encoder, TDM, RQ-VAE): epochs of shuffled
/// mini-batches with AdamW over parameter groups and a warm-up-then-decay learning rate, the next
/// batch gathered on another core while this one trains; after each epoch the validation score that
/// selects the served epoch (<see cref="TrainerOptions.SelectBy"/>: loss or recall), then, every <see cref="TrainerOptions.SaveEvery"/> epochs,
/// checkpoints: <c>checkpoint_epoch_N</c> (the <see cref="TrainerOptions.SaveLimit"/> latest kept),
/// <c>best_model</c> (weights only) whenever the selection score improves (<see cref="TrainerOptions.SelectBy"/>
/// on the validation split; without one, the training loss), and <c>checkpoint_interrupted</c> when
/// cancelled. <see cref="TrainerOptions.Resume"/> continues from the latest of them; <see cref="TrainerOptions.Patience"/>
/// stops early. A model supplies its batches, its loss, its validation scores and its checkpoint
/// kind, and may hook the start of training and the end of each epoch.
/// </summary>
public abstract class EpochTrainer<TBatch> where TBatch : class
{
    private readonly Module _model;
    private readonly int _examples;
    private readonly Queue<string> _recent = new();
    private int _globalStep, _completedEpochs, _bestEpoch;
    private double _bestValidationLoss = double.PositiveInfinity, _bestValidationRecall = double.NegativeInfinity;

    protected EpochTrainer(Module model, TrainerOptions options, int examples)
    {
        options.Validate();
        _model = model;
        _examples = examples;
        Options = options;
        if (examples < 2) throw new ArgumentException($"training needs at least two examples (one batch of two), got {examples}");
        var groups = options.DecayAllParameters ? [new ParameterGroup(model.Parameters())] : ParameterGroup.DecayMatricesOnly(model.Parameters());
        Optimizer = new AdamW(groups, options.LearningRate, weightDecay: options.WeightDecay);
        StepsPerEpoch = (examples + options.BatchSize - 1) / options.BatchSize;
        int total = options.Epochs * StepsPerEpoch;
        Schedule = new LrSchedule(options.Schedule, options.LearningRate, total,
            warmupSteps: Math.Min(total, (int)Math.Round(options.WarmupFraction * total)), minRate: options.LearningRate * options.FinalLearningRateFraction);
    }

    protected TrainerOptions Options { get; }

    /// <summary>Where this trainer writes its checkpoints (and a command its run records).</summary>
    public string CheckpointDir => Options.CheckpointDir;
    protected AdamW Optimizer { get; }
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

    /// <summary>The epoch whose weights are in <c>best_model</c> (0 before any).</summary>
    public int BestEpoch => _bestEpoch;

    /// <summary>True when the last <see cref="Train"/> ended early because the validation score stopped improving.</summary>
    public bool StoppedEarly { get; private set; }

    /// <summary>Training examples <c>order[start .. start + count)</c> as one batch (called from a worker thread, one batch at a time).</summary>
    protected abstract TBatch PrepareBatch(int[] order, int start, int count, Rng rng);

    /// <summary>The batch's mean loss, recorded on the current tape when training.</summary>
    protected abstract Variable Loss(TBatch batch);

    /// <summary>Validation examples (interactions of the validation split).</summary>
    protected abstract int ValidationCount { get; }

    /// <summary>Validation examples <c>order[start .. start + count)</c> as one batch, their behaviour all of training.</summary>
    protected abstract TBatch PrepareValidationBatch(int[] order, int start, int count, Rng rng);

    /// <summary>Recall@<see cref="SelectionK"/> over all items for the validation users (NaN without a validation split).</summary>
    public abstract double ValidationRecall();

    protected abstract void SaveCheckpoint(string path, Optimizer? optimizer, CheckpointInfo info);

    protected abstract CheckpointInfo LoadCheckpoint(string path, Optimizer? optimizer);

    /// <summary>Called when <see cref="Train"/> starts, before the first step; <paramref name="resumed"/> when weights came from a checkpoint.</summary>
    protected virtual void OnTrainingStart(bool resumed) { }

    /// <summary>
    /// Called after each epoch's own checkpoints (<paramref name="checkpointEpoch"/>: the epoch wrote them; <paramref name="seconds"/>: its training time), before
    /// the epoch is reported; returns a note for the epoch's report ("" when none) and adds any files it writes to <paramref name="saved"/>.
    /// </summary>
    protected virtual string OnEpochEnd(int epoch, double trainLoss, double seconds, bool checkpointEpoch, List<string> saved) => "";

    public string CheckpointPath(string name) => Path.Combine(Options.CheckpointDir, name + ".safetensors");

    /// <summary>Loads the most advanced checkpoint in the checkpoint folder; returns its path.</summary>
    public string ResumeFromLatest()
    {
        var candidates = Directory.Exists(Options.CheckpointDir)
            ? Directory.GetFiles(Options.CheckpointDir, "checkpoint_*.safetensors") : [];
        if (candidates.Length == 0) throw new FileNotFoundException($"resuming: no checkpoint_*.safetensors in '{Path.GetFullPath(Options.CheckpointDir)}'");
        // The global step orders checkpoints even when an interrupted one and an epoch one share an epoch.
        var latest = candidates.Select(p => (Path: p, Step: GlobalStepOf(p))).MaxBy(c => c.Step).Path;
        var info = LoadCheckpoint(latest, Optimizer);
        _completedEpochs = info.CompletedEpochs;
        _globalStep = info.GlobalStep;
        _bestValidationLoss = info.BestValidationLoss;
        _bestValidationRecall = info.BestValidationRecall;
        _bestEpoch = info.BestEpoch;
        return latest;
    }

    private static int GlobalStepOf(string path) =>
        int.TryParse(SafeTensors.ReadMetadata(path).GetValueOrDefault("global_step"), out int s) ? s : -1;

    /// <summary>
    /// Puts <c>best_model</c>'s weights into the model, when training had a validation split and a
    /// later epoch was worse, and readies them for serving; returns the epoch the weights come from.
    /// </summary>
    public int RestoreBest()
    {
        string path = CheckpointPath("best_model");
        int epoch = _completedEpochs;
        if (_bestEpoch != 0 && _bestEpoch != _completedEpochs && File.Exists(path))
        {
            LoadCheckpoint(path, null);
            epoch = _bestEpoch;
        }
        OnBestRestored();
        return epoch;
    }

    /// <summary>Called once the served weights are in the model, for trainers that turn them into what serving reads.</summary>
    protected virtual void OnBestRestored() { }

    private CheckpointInfo Position => new(_completedEpochs, _globalStep, _bestValidationLoss, _bestEpoch, _bestValidationRecall);

    /// <summary>Runs the remaining epochs. On cancellation, saves <c>checkpoint_interrupted</c> and throws <see cref="OperationCanceledException"/>.</summary>
    public IReadOnlyList<EpochResult> Train(CancellationToken cancel = default)
    {
        if (Options.Resume && _completedEpochs == 0 && _globalStep == 0) ResumeFromLatest();
        Directory.CreateDirectory(Options.CheckpointDir);
        OnTrainingStart(resumed: _globalStep > 0);
        var results = new List<EpochResult>();
        for (int epoch = _completedEpochs + 1; epoch <= Options.Epochs; epoch++)
        {
            var clock = Stopwatch.StartNew();
            double trainLoss = TrainEpoch(epoch, cancel);
            double seconds = clock.Elapsed.TotalSeconds;
            // Selecting by recall, the loss picks nothing: skipping it saves a forward pass over the validation split.
            double valLoss = Options.SelectBy == ModelSelection.Recall ? double.NaN : ValidationLoss();
            double valRecall = Options.SelectBy == ModelSelection.Recall ? ValidationRecall() : double.NaN;
            _completedEpochs = epoch;
            bool checkpointEpoch = epoch % Options.SaveEvery == 0 || epoch == Options.Epochs;
            var saved = checkpointEpoch ? SaveEpoch(epoch, trainLoss, valLoss, valRecall) : [];
            string note = OnEpochEnd(epoch, trainLoss, seconds, checkpointEpoch, saved);
            var result = new EpochResult(epoch, trainLoss, valLoss, Optimizer.LearningRate, seconds, _examples / seconds, saved) { ValidationRecall = valRecall, Note = note };
            results.Add(result);
            EpochCompleted?.Invoke(result);
            if (Options.Patience > 0 && epoch - _bestEpoch >= Options.Patience && _bestEpoch > 0)
            {
                StoppedEarly = true;
                break;
            }
        }
        return results;
    }

    /// <summary>
    /// <c>checkpoint_epoch_N</c> (dropping the oldest past the limit) and, when the selection score
    /// improved, <c>best_model</c>: validation recall or loss, or without a validation split the training loss.
    /// </summary>
    private List<string> SaveEpoch(int epoch, double trainLoss, double valLoss, double valRecall)
    {
        double loss = double.IsNaN(valLoss) ? trainLoss : valLoss;
        bool best = Options.SelectBy == ModelSelection.Recall && !double.IsNaN(valRecall)
            ? valRecall > _bestValidationRecall
            : loss < _bestValidationLoss;
        if (loss < _bestValidationLoss) _bestValidationLoss = loss;
        if (valRecall > _bestValidationRecall) _bestValidationRecall = valRecall;
        if (best) _bestEpoch = epoch;
        var saved = new List<string>();
        string path = CheckpointPath($"checkpoint_epoch_{epoch}");
        SaveCheckpoint(path, Optimizer, Position);
        saved.Add(path);
        _recent.Enqueue(path);
        while (Options.SaveLimit > 0 && _recent.Count > Options.SaveLimit) File.Delete(_recent.Dequeue());
        if (best)
        {
            SaveCheckpoint(CheckpointPath("best_model"), null, Position);
            saved.Add(CheckpointPath("best_model"));
        }
        return saved;
    }

    private double TrainEpoch(int epoch, CancellationToken cancel)
    {
        _model.Train();
        var rng = new Rng(Options.Seed ^ (0x5851F42D4C957F2DUL * (ulong)epoch));
        var order = new int[_examples];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        rng.Shuffle(order.AsSpan());
        double sum = 0;
        int steps = 0;
        var clock = Stopwatch.StartNew();
        // The next batch is gathered on another core while this one trains; batches are still made
        // one after another from the same generator, so the run is deterministic.
        Task<TBatch>? next = null;
        for (int start = 0; start < order.Length; start += Options.BatchSize)
        {
            int b = Math.Min(Options.BatchSize, order.Length - start);
            if (b < 2) break;  // batch norm cannot train on one row
            if (cancel.IsCancellationRequested)
            {
                next?.Wait(CancellationToken.None);
                SaveCheckpoint(CheckpointPath("checkpoint_interrupted"), Optimizer, Position);
                cancel.ThrowIfCancellationRequested();
            }
            var batch = next?.Result ?? PrepareBatch(order, start, b, rng);
            int nextStart = start + Options.BatchSize, nextCount = Math.Min(Options.BatchSize, order.Length - nextStart);
            next = nextCount >= 2 ? Task.Run(() => PrepareBatch(order, nextStart, nextCount, rng)) : null;
            Schedule.Apply(Optimizer, _globalStep);
            float loss = Step(batch);
            _globalStep++;
            sum += loss;
            steps++;
            StepCompleted?.Invoke(new StepInfo(epoch, steps, StepsPerEpoch, sum / steps, steps / clock.Elapsed.TotalSeconds));
        }
        next?.Wait(CancellationToken.None);
        return sum / Math.Max(1, steps);
    }

    /// <summary>Forward, backward and an optimiser step on one batch; returns its loss.</summary>
    private float Step(TBatch batch) => Step(batch, static (_, work) => work());

    /// <summary>The same, each phase run through <paramref name="phase"/>(name, work), which a profile times.</summary>
    private float Step(TBatch batch, Action<string, Action> phase)
    {
        // A pooled tape: the step's activations and gradients reuse the previous step's arrays.
        using var tape = new Tape(pooled: true);
        Variable loss = null!;
        phase("forward and loss", () => loss = Loss(batch));
        phase("backward", () => tape.Backward(loss));
        phase("optimizer", Optimizer.StepAndZeroGrad);
        return loss.Value[0];
    }

    /// <summary>
    /// One training step on <see cref="TrainerOptions.BatchSize"/> examples drawn at random, as <see cref="Train"/> runs it, with
    /// the batch and each phase run through <paramref name="phase"/>(name, work): the step profiles of bench/ time them.
    /// </summary>
    internal float ProfileStep(Rng rng, Action<string, Action> phase)
    {
        _model.Train();
        var order = new int[Math.Min(Options.BatchSize, _examples)];
        for (int i = 0; i < order.Length; i++) order[i] = rng.NextInt(_examples);
        TBatch batch = null!;
        phase("batch", () => batch = PrepareBatch(order, 0, order.Length, rng));
        return Step(batch, phase);
    }

    /// <summary>
    /// Mean loss over the validation examples (NaN with fewer than two), in batches of the training
    /// size, in evaluation mode without recording, with a fixed generator so epochs compare.
    /// </summary>
    public double ValidationLoss()
    {
        int count = ValidationCount;
        if (count < 2) return double.NaN;
        var rng = new Rng(Options.Seed ^ 0x7F4A7C15UL);
        var index = new int[count];
        for (int i = 0; i < index.Length; i++) index[i] = i;
        _model.Eval();
        double sum = 0;
        int batches = 0;
        for (int start = 0; start < count; start += Options.BatchSize)
        {
            int b = Math.Min(Options.BatchSize, count - start);
            if (b < 2) break;
            var batch = PrepareValidationBatch(index, start, b, rng);
            // An inference tape records nothing and takes each batch's activations from the pool the training steps use.
            using (Tape.Inference()) sum += Loss(batch).Value[0];
            batches++;
        }
        _model.Train();
        return sum / Math.Max(1, batches);
    }
}
