using VectorRecall.Autograd;
using VectorRecall.Data;
using VectorRecall.Numerics;
using VectorRecall.Optim;
using VectorRecall.Retrieval;
using VectorRecall.Training;
using VectorRecall.Towers;

namespace VectorRecall.Tdm;

/// <summary>The per-level loss: a softmax over each level's positive and negatives, or binary cross-entropy on each candidate.</summary>
public enum TdmLoss { Softmax, BinaryCrossEntropy }

/// <summary>
/// Where a level's negatives come from: uniformly from the level; first from the nodes the user's beam search
/// reaches there; or the other positives of the batch on that level (logQ-corrected, as the two-tower trains)
/// besides the uniform ones.
/// </summary>
public enum TdmNegatives { Uniform, Beam, InBatch }

/// <summary>TDM-specific training settings (the shared ones are in <see cref="TrainerOptions"/>).</summary>
public sealed record TdmOptions
{
    /// <summary>Negatives per level: one count for all levels, or one per level 1 … depth.</summary>
    public int[] NegativesPerLevel { get; init; } = [6];
    public TdmLoss Loss { get; init; } = TdmLoss.Softmax;
    /// <summary>Beam: each level's negatives start with the nodes the current model's beam search reaches (<see cref="BeamNegatives"/>).</summary>
    public TdmNegatives Negatives { get; init; } = TdmNegatives.Uniform;
    /// <summary>Width of the training beam search that finds those nodes.</summary>
    public int TrainingBeam { get; init; } = 16;
    /// <summary>False: the user tower stays as it starts (its gradient is cut); only the nodes and the scorer learn.</summary>
    public bool TrainUserTower { get; init; } = true;
    /// <summary>
    /// False: the leaf level is not trained, so the leaves keep the embeddings they start with (a two-tower's item
    /// vectors); with a frozen user tower and the inner product, the leaves rank exactly as the two-tower and
    /// training learns only the route to them.
    /// </summary>
    public bool TrainLeaves { get; init; } = true;
    /// <summary>Beam width of the validation recall's beam search.</summary>
    public int Beam { get; init; } = 100;
    /// <summary>Validation recall ranks at most this many users (evenly spaced), to keep epochs short with an MLP scorer.</summary>
    public int ValidationUsers { get; init; } = 5000;
}

/// <summary>
/// Trains a <see cref="TdmModel"/> layer by layer (Zhu et al., 2018): each (user, item) interaction
/// becomes one row per tree level whose positive is the item's ancestor there and whose negatives
/// come from <see cref="LayerwiseSampler"/>; the loss is the mean over levels and examples. The
/// user's behaviour is built as for the two-tower (a user tower), or each example's user vector is the
/// frozen sequence encoder's output just before its item; the loop, checkpoints and selection are the
/// shared <see cref="EpochTrainer{TBatch}"/>'s. Checkpoints carry the tree, so one file serves search.
/// </summary>
public sealed class TdmTrainer : EpochTrainer<TdmTrainer.Batch>
{
    private readonly TdmModel _model;
    private readonly ItemTree _tree;
    private readonly RecDataset _data;
    private readonly TdmOptions _tdm;
    private readonly LayerwiseSampler _sampler;
    private readonly BeamNegatives? _beam;
    private readonly InfoNceLoss[]? _inBatch;
    private readonly float[] _nodeLogQ = [];
    private readonly (int[] User, int[] Position) _train, _validation;
    /// <summary>A sequence encoder's user vector for each training and validation example; null with a user tower.</summary>
    private readonly Tensor? _trainVectors, _validationVectors;

    public TdmTrainer(TdmModel model, ItemTree tree, RecDataset data, TrainerOptions options, TdmOptions tdm)
        : this(model, tree, data, options, tdm, TrainingExamples(model, data)) { }

    private TdmTrainer(TdmModel model, ItemTree tree, RecDataset data, TrainerOptions options, TdmOptions tdm, (int[] User, int[] Position) train)
        : base(model, options, train.User.Length)
    {
        if (tree.ItemCount != data.ItemCount) throw new ArgumentException($"the tree has {tree.ItemCount:N0} items, the data set {data.ItemCount:N0}");
        if (model.Config.Nodes != tree.NodeCount || model.Config.Dimension != tree.Dimension)
            throw new ArgumentException($"the model has {model.Config.Nodes} nodes of width {model.Config.Dimension}, the tree {tree.NodeCount} of width {tree.Dimension}");
        if (model.Config.User is { } u && (u.NumUsers != data.UserCount || u.NumItems != data.ItemCount || u.UserFeatures != data.UserFeatures.Cols))
            throw new ArgumentException("the user tower's configuration does not match the data set's sizes");
        if (model.Config.Scorer == NodeScorerKind.LeafMlp)
            throw new ArgumentException("a leaf-MLP model is not trained level by level: LeafScorerTraining trains its leaf scorer over its inner-product route's beam");
        if (model.Sequence is not null)
        {
            if (model.Config.NumItems != data.ItemCount) throw new ArgumentException($"the sequence encoder knows {model.Config.NumItems:N0} items, the data set has {data.ItemCount:N0}");
            if (tdm.TrainUserTower) throw new ArgumentException("a sequence encoder stays frozen in TDM training (TrainUserTower false, --freeze-user): the tree and the scorer learn on its vectors");
        }
        Settings.Check(tdm.TrainingBeam >= 1, nameof(tdm.TrainingBeam), $"must be at least 1, got {tdm.TrainingBeam}");
        Settings.Check(tdm.Beam >= SelectionK, nameof(tdm.Beam), $"({tdm.Beam}) must be at least {SelectionK}, the K of the validation recall");
        _model = model;
        _tree = tree;
        _data = data;
        _tdm = tdm;
        _sampler = new LayerwiseSampler(tree, tdm.NegativesPerLevel, tdm.TrainLeaves);
        if (tdm.Negatives == TdmNegatives.Beam) _beam = new BeamNegatives(tree, model, _sampler, tdm.TrainingBeam);
        if (tdm.Negatives == TdmNegatives.InBatch)
        {
            if (model.Config.Scorer != NodeScorerKind.InnerProduct || tdm.Loss != TdmLoss.Softmax)
                throw new ArgumentException("in-batch negatives need the inner-product scorer and the softmax loss (they are scored by one GEMM per level)");
            _inBatch = Enumerable.Range(0, tree.Depth).Select(_ => new InfoNceLoss(model.Config.Temperature)).ToArray();
            _nodeLogQ = NodeLogQ(tree, data.Train.ItemCounts(data.ItemCount));
        }
        _train = train;
        _validation = data.Validation.Entries();
        if (model.Sequence is { } sequence)
        {
            _trainVectors = sequence.BeforeEach(data.Train, _train.User, _train.Position);
            // A validation item follows all of the user's training items, as evaluation ranks it.
            _validationVectors = sequence.Latest(data.Train, _validation.User);
        }
    }

    /// <summary>The training interactions as (user, position); a sequence encoder has no vector before a user's first item, so those are left out.</summary>
    private static (int[] User, int[] Position) TrainingExamples(TdmModel model, RecDataset data)
    {
        var all = data.Train.Entries();
        if (model.Sequence is null) return all;
        var keep = Enumerable.Range(0, all.User.Length).Where(e => all.Position[e] > 0).ToArray();
        return (keep.Select(e => all.User[e]).ToArray(), keep.Select(e => all.Position[e]).ToArray());
    }

    /// <summary>
    /// A batch: the users' tower input (a user tower) or their vectors (a frozen sequence encoder), and for each example
    /// and level a row of candidate nodes with their logit shifts.
    /// </summary>
    public sealed record Batch(UserBatch? Users, Tensor? Vectors, int[] UserIds, int[] Candidates, Tensor Shift, bool Train)
    {
        public int Count => UserIds.Length;
    }

    protected override Batch PrepareBatch(int[] order, int start, int count, Rng rng) => Prepare(_data.Train, _train, _trainVectors, order, start, count, rng, train: true);

    private Batch Prepare(UserItemLists split, (int[] User, int[] Position) ex, Tensor? exampleVectors, int[] order, int start, int count, Rng rng, bool train)
    {
        int levels = _sampler.Levels, w = _sampler.Width;
        var users = new int[count];
        var positions = new int[count];
        var candidates = new int[count * levels * w];
        var shift = new Tensor(count * levels, w);
        for (int r = 0; r < count; r++)
        {
            int e = order[start + r];
            users[r] = ex.User[e];
            positions[r] = ex.Position[e];
            int item = split.Of(users[r])[positions[r]];
            _sampler.Fill(item, candidates.AsSpan(r * levels * w, levels * w), shift.Span.Slice(r * levels * w, levels * w), rng);
        }
        if (exampleVectors is not null)
        {
            var vectors = new Tensor(count, exampleVectors.Cols);
            for (int r = 0; r < count; r++) exampleVectors.Row(order[start + r]).CopyTo(vectors.Row(r));
            return new Batch(null, vectors, users, candidates, shift, train);
        }
        var userBatch = UserBatch.ForExamples(_data, users, positions, _model.User!.Config.HistoryLength, train, rng);
        return new Batch(userBatch, null, users, candidates, shift, train);
    }

    protected override Variable Loss(Batch batch)
    {
        int b = batch.Count, levels = _sampler.Levels;
        var u = batch.Vectors is { } vectors ? new Variable(vectors) : TowerVectors(batch.Users!);
        if (_beam is not null && batch.Train) ReachedNegatives(batch, u.Value);
        if (_inBatch is not null) return InBatchLoss(batch, u);
        var owner = new int[b * levels];
        for (int i = 0; i < owner.Length; i++) owner[i] = i / levels;
        var logits = Ops.Add(_model.Logits(Ops.GatherRows(u, owner), batch.Candidates), new Variable(batch.Shift));
        if (_tdm.Loss == TdmLoss.Softmax) return Ops.CrossEntropy(logits, new int[owner.Length]);
        var targets = new Tensor(owner.Length, _sampler.Width);
        for (int r = 0; r < owner.Length; r++) targets[r, 0] = 1;
        return Ops.BinaryCrossEntropyWithLogits(logits, targets);
    }

    /// <summary>The user tower's vectors; a frozen tower runs as in inference (no dropout, batch-norm statistics unchanged) and passes no gradient back.</summary>
    private Variable TowerVectors(UserBatch users)
    {
        var tower = _model.User!;
        if (_tdm.TrainUserTower) return tower.Forward(users);
        tower.Eval();
        return Ops.Detach(tower.Forward(users));
    }

    /// <summary>
    /// The mean over levels of InfoNCE whose candidates on level ℓ are the batch's positives there (a GEMM; duplicates of a
    /// row's own positive masked) and the row's uniform negatives; each logit is corrected by log q, the node's share of
    /// training positives (in-batch) or 1 / the level's size (uniform).
    /// </summary>
    private Variable InBatchLoss(Batch batch, Variable users)
    {
        int b = batch.Count, levels = _sampler.Levels, w = _sampler.Width;
        Variable? total = null;
        for (int level = 1; level <= levels; level++)
        {
            int n = _sampler.NegativesAt(level);
            // The positives, then row r's n negatives at b + r·n (the loss's layout).
            var candidates = new int[b + b * n];
            var positiveLogQ = new float[b];
            for (int r = 0; r < b; r++)
            {
                var row = batch.Candidates.AsSpan((r * levels + level - 1) * w, w);
                candidates[r] = row[0];
                positiveLogQ[r] = _nodeLogQ[row[0]];
                row.Slice(1, n).CopyTo(candidates.AsSpan(b + r * n, n));
            }
            var negativeLogQ = new float[b * n];
            Array.Fill(negativeLogQ, -MathF.Log(_tree.LevelSize(level)));
            var loss = _inBatch![level - 1].Forward(users, _model.Nodes.Forward(candidates), candidates, positiveLogQ, negativeLogQ);
            total = total is null ? loss : Ops.Add(total, loss);
        }
        return Ops.Scale(total!, 1f / levels);
    }

    /// <summary>log of each node's share of the training positives on its level (the items below it, counted by interactions).</summary>
    private static float[] NodeLogQ(ItemTree tree, int[] itemCounts)
    {
        var counts = new double[tree.NodeCount];
        for (int item = 0; item < tree.ItemCount; item++)
            for (int node = tree.LeafOf(item); node >= 0; node = tree.Parent(node)) counts[node] += Math.Max(itemCounts[item], 1);
        double total = counts[0];
        return counts.Select(c => (float)Math.Log(c / total)).ToArray();
    }

    /// <summary>Rewrites each example's rows with the nodes its user's beam reaches (the model as it is at this step).</summary>
    private void ReachedNegatives(Batch batch, Tensor users)
    {
        int span = _sampler.Levels * _sampler.Width;
        var beam = _beam!;
        Parallel.For(0, batch.UserIds.Length, Threads.Options, r =>
            beam.Apply(users.Row(r), _data.Train.Of(batch.UserIds[r]), batch.Candidates.AsSpan(r * span, span), batch.Shift.Span.Slice(r * span, span), beam.ThreadState));
    }

    protected override int ValidationCount => _validation.User.Length;

    protected override Batch PrepareValidationBatch(int[] order, int start, int count, Rng rng) =>
        Prepare(_data.Validation, _validation, _validationVectors, order, start, count, rng, train: false);

    /// <summary>Recall@<see cref="EpochTrainer{TBatch}.SelectionK"/> of beam search for up to <see cref="TdmOptions.ValidationUsers"/> validation users, their train items excluded.</summary>
    public override double ValidationRecall()
    {
        var users = Enumerable.Range(0, _data.UserCount).Where(u => _data.Validation.CountOf(u) > 0).ToArray();
        if (users.Length == 0) return double.NaN;
        if (users.Length > _tdm.ValidationUsers)
            users = Enumerable.Range(0, _tdm.ValidationUsers).Select(i => users[(int)((long)i * users.Length / _tdm.ValidationUsers)]).ToArray();
        var retriever = TdmRetriever.Create(_model, _tree, _tdm.Beam);
        var queries = TdmRetriever.EncodeUsers(_model, _data, users, _data.Train);
        int k = Math.Min(SelectionK, _data.ItemCount);
        return RetrievalEvaluator.Evaluate(retriever, queries, users, _data.Validation, _data.Train, [k]).Metrics.Get(RankingMetric.Recall, k);
    }

    protected override void SaveCheckpoint(string path, Optimizer? optimizer, CheckpointInfo info) => TdmCheckpoint.Save(path, _model, _tree, optimizer, info);

    protected override CheckpointInfo LoadCheckpoint(string path, Optimizer? optimizer) => TdmCheckpoint.LoadInto(path, _model, optimizer);
}
