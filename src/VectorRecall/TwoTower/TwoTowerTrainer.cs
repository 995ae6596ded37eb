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
/// Trains a <see cref="TwoTowerModel"/> on a data set's training split with InfoNCE through the
/// shared <see cref="EpochTrainer{TBatch}"/> loop (checkpoints, resume, selection, early stopping).
/// A training example is one (user, item) interaction; the user's behaviour is the items before it
/// in time (for unordered data, a window of the user's other items).
/// </summary>
public sealed class TwoTowerTrainer : EpochTrainer<TwoTowerTrainer.Batch>
{
    private readonly TwoTowerModel _model;
    private readonly RecDataset _data;
    private readonly NegativeSampler _sampler;
    private readonly float[] _positiveLogQ;
    private readonly InfoNceLoss _loss;
    private readonly int[] _exampleUser, _examplePosition;
    private readonly (int[] User, int[] Position) _validationExamples;

    public TwoTowerTrainer(TwoTowerModel model, RecDataset data, TrainerOptions options)
        : base(model, options, CheckShapes(model, data).Train.Count)
    {
        _model = model;
        _data = data;
        var counts = data.Train.ItemCounts(data.ItemCount);
        _sampler = new NegativeSampler(options.Sampler, counts);
        // An in-batch candidate is some example's positive: q is the item's share of training interactions.
        _positiveLogQ = new float[data.ItemCount];
        double total = Math.Max(1, data.Train.Count);
        for (int i = 0; i < counts.Length; i++) _positiveLogQ[i] = (float)Math.Log(Math.Max(counts[i], 1) / total);
        _loss = new InfoNceLoss(options.Temperature, options.LogQCorrection);
        (_exampleUser, _examplePosition) = Examples(data.Train);
        _validationExamples = Examples(data.Validation);
    }

    private static RecDataset CheckShapes(TwoTowerModel model, RecDataset data)
    {
        var c = model.Config;
        if (c.NumUsers != data.UserCount || c.NumItems != data.ItemCount || c.UserFeatures != data.UserFeatures.Cols
            || c.ItemFeatures != data.Items.FeatureCount || c.Categories != data.Items.CategoryCount || c.Tags != data.Items.TagCount)
            throw new ArgumentException("the model's configuration does not match the data set's sizes");
        return data;
    }

    protected override void SaveCheckpoint(string path, Optimizer? optimizer, CheckpointInfo info) => TrainingCheckpoint.Save(path, _model, optimizer, info);

    protected override CheckpointInfo LoadCheckpoint(string path, Optimizer? optimizer) => TrainingCheckpoint.Load(path, _model, optimizer);

    protected override Batch PrepareBatch(int[] order, int start, int count, Rng rng) =>
        Prepare(_data.Train, (_exampleUser, _examplePosition), order, start, count, rng, train: true);

    protected override int ValidationCount => _validationExamples.User.Length;

    protected override Batch PrepareValidationBatch(int[] order, int start, int count, Rng rng) =>
        Prepare(_data.Validation, _validationExamples, order, start, count, rng, train: false);

    /// <summary>
    /// Recall@<see cref="EpochTrainer{TBatch}.SelectionK"/> of exact search over all items for the users with validation
    /// items, their train items excluded and their train history as behaviour; NaN without validation.
    /// </summary>
    public override double ValidationRecall()
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
    public sealed record Batch(UserBatch Users, ItemBatch Items, int Size, int[] ItemIds, float[] PositiveLogQ, float[] NegativeLogQ);

    /// <summary>
    /// Gathers examples <c>order[start .. start + count)</c>: each user's behaviour before the example
    /// (for validation: all of training), its positive item, and sampled negatives with their log q.
    /// For training, cutoffs[r] is the example's position in the user's list.
    /// </summary>
    private Batch Prepare(UserItemLists split, (int[] User, int[] Position) ex, int[] order, int start, int count, Rng rng, bool train)
    {
        int b = count, negatives = Options.SharedNegatives ? Options.NumNegatives : b * Options.NumNegatives;
        var users = new int[b];
        var cutoffs = new int[b];
        var items = new int[b + negatives];
        for (int r = 0; r < b; r++)
        {
            int e = order[start + r];
            users[r] = ex.User[e];
            items[r] = split.Of(users[r])[ex.Position[e]];
            cutoffs[r] = ex.Position[e];
        }
        _sampler.Fill(items.AsSpan(b), rng);
        var positiveLogQ = new float[b];
        for (int r = 0; r < b; r++) positiveLogQ[r] = _positiveLogQ[items[r]];
        var negativeLogQ = new float[negatives];
        for (int j = 0; j < negativeLogQ.Length; j++) negativeLogQ[j] = _sampler.LogProbability(items[b + j]);
        var userBatch = UserBatch.ForExamples(_data, users, cutoffs, _model.Config.HistoryLength, train, rng);
        return new Batch(userBatch, ItemBatch.Gather(_data.Items, items), b, items, positiveLogQ, negativeLogQ);
    }

    protected override Variable Loss(Batch batch)
    {
        int b = batch.Size;
        var u = _model.User.Forward(batch.Users);
        var all = _model.Item.Forward(batch.Items);
        var positives = Ops.SliceRows(all, 0, b);
        var negatives = all.Rows > b ? Ops.SliceRows(all, b, all.Rows - b) : null;
        return _loss.Forward(u, positives, batch.ItemIds.AsSpan(0, b), batch.PositiveLogQ, negatives, batch.ItemIds.AsSpan(b), batch.NegativeLogQ, Options.SharedNegatives);
    }
}
