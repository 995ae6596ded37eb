using VectorRecall.Autograd;
using VectorRecall.Data;
using VectorRecall.Numerics;
using VectorRecall.Optim;
using VectorRecall.Retrieval;
using VectorRecall.Training;
using VectorRecall.Towers;

namespace VectorRecall.TwoTower;

/// <summary>
/// Trains a <see cref="TwoTowerModel"/> on a data set's training split with InfoNCE or CCL through the
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
    private readonly CosineContrastiveLoss _ccl;
    private readonly int[] _exampleUser, _examplePosition;
    private readonly (int[] User, int[] Position) _validationExamples;

    private readonly InfoNceOptions _lossOptions;
    /// <summary>Null unless the configuration propagates the id embeddings over the training graph.</summary>
    private readonly GraphPropagation? _graph;
    /// <summary>Whether the id tables in the model hold the propagated vectors (after <see cref="OnBestRestored"/>).</summary>
    private bool _baked;

    public TwoTowerTrainer(TwoTowerModel model, RecDataset data, TrainerOptions options, InfoNceOptions? loss = null)
        : base(model, options, CheckShapes(model, data).Train.Count)
    {
        _lossOptions = loss ?? new InfoNceOptions();
        _lossOptions.Validate();
        _model = model;
        _data = data;
        var counts = data.Train.ItemCounts(data.ItemCount);
        _sampler = new NegativeSampler(_lossOptions.Sampler, counts);
        // An in-batch candidate is some example's positive: q is the item's share of training interactions.
        _positiveLogQ = new float[data.ItemCount];
        double total = Math.Max(1, data.Train.Count);
        for (int i = 0; i < counts.Length; i++) _positiveLogQ[i] = (float)Math.Log(Math.Max(counts[i], 1) / total);
        _loss = new InfoNceLoss(_lossOptions.Temperature, _lossOptions.LogQCorrection);
        _ccl = new CosineContrastiveLoss(_lossOptions.Margin, _lossOptions.NegativeWeight);
        (_exampleUser, _examplePosition) = data.Train.Entries();
        _validationExamples = data.Validation.Entries();
        if (model.Config.PropagationLayers > 0) _graph = new GraphPropagation(data.Train, data.ItemCount, model.Config.PropagationLayers);
    }

    private static RecDataset CheckShapes(TwoTowerModel model, RecDataset data)
    {
        var c = model.Config;
        if (c.NumUsers != data.UserCount || c.NumItems != data.ItemCount || c.UserFeatures != data.UserFeatures.Cols
            || c.ItemFeatures != data.Items.FeatureCount || c.Categories != data.Items.CategoryCount || c.Tags != data.Items.TagCount)
            throw new ArgumentException("the model's configuration does not match the data set's sizes");
        return data;
    }

    protected override void SaveCheckpoint(string path, Optimizer? optimizer, CheckpointInfo info) => TwoTowerCheckpoint.Save(path, _model, optimizer, info);

    protected override CheckpointInfo LoadCheckpoint(string path, Optimizer? optimizer)
    {
        _baked = false;
        return TwoTowerCheckpoint.Load(path, _model, optimizer);
    }

    /// <summary>With propagation, the served id tables are the propagated ones: serving then needs no graph.</summary>
    protected override void OnBestRestored()
    {
        if (_graph is null || _baked) return;
        BakePropagation();
        _baked = true;
    }

    /// <summary>Overwrites the id tables with their propagated vectors; returns the layer-0 tables.</summary>
    private (Tensor Users, Tensor Items) BakePropagation()
    {
        var (users, items) = (_model.User.Id.Weight.Value, _model.Item.Id.Weight.Value);
        var (layer0Users, layer0Items) = (users.Clone(), items.Clone());
        var (u, i) = _graph!.Propagate(users, items);
        u.Span.CopyTo(users.Span);
        i.Span.CopyTo(items.Span);
        return (layer0Users, layer0Items);
    }

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
        if (_graph is null || _baked) return ValidationRecall(users);
        var (layer0Users, layer0Items) = BakePropagation();
        try { return ValidationRecall(users); }
        finally
        {
            layer0Users.Span.CopyTo(_model.User.Id.Weight.Value.Span);
            layer0Items.Span.CopyTo(_model.Item.Id.Weight.Value.Span);
        }
    }

    private double ValidationRecall(int[] users)
    {
        var items = TowerEncoder.EncodeItems(_model.Item, _data.Items);
        var queries = TowerEncoder.EncodeUsers(_model.User, UserBatch.Gather(users, _data.UserFeatures, _data.Train, _model.Config.HistoryLength));
        using var flat = new IndexRetriever(TowerEncoder.BuildIndex(items, "Flat"));
        int k = Math.Min(SelectionK, _data.ItemCount);
        return RetrievalEvaluator.Evaluate(flat, queries, users, _data.Validation, _data.Train, [k]).Metrics.Get(RankingMetric.Recall, k);
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
        int b = count, negatives = _lossOptions.SharedNegatives ? _lossOptions.NumNegatives : b * _lossOptions.NumNegatives;
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
        var (userTable, itemTable) = _graph is null ? (null, null) : _graph.Forward(_model.User.Id.Weight, _model.Item.Id.Weight);
        var u = _model.User.Forward(batch.Users, userTable);
        var all = _model.Item.Forward(batch.Items, itemTable);
        if (_lossOptions.Kind == LossKind.Ccl)
            return _ccl.Forward(u, Ops.SliceRows(all, 0, b), batch.ItemIds.AsSpan(0, b), Ops.SliceRows(all, b, all.Rows - b), batch.ItemIds.AsSpan(b), _lossOptions.SharedNegatives);
        // Positives and negatives are rows of one item-tower output: the loss reads them in place.
        return _loss.Forward(u, all, batch.ItemIds, batch.PositiveLogQ, batch.NegativeLogQ, _lossOptions.SharedNegatives);
    }
}
