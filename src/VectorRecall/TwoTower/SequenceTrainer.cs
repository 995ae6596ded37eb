using VectorRecall.Autograd;
using VectorRecall.Data;
using VectorRecall.Indexing;
using VectorRecall.Nn;
using VectorRecall.Numerics;
using VectorRecall.Optim;
using VectorRecall.Retrieval;
using VectorRecall.Towers;
using VectorRecall.Training;

namespace VectorRecall.TwoTower;

/// <summary>
/// Trains a <see cref="SequenceEncoder"/> on every position of each user's training sequence at once
/// (SASRec's causal objective): position t's output is scored against the item that follows it through
/// the tied item table, with a full softmax over all items, or (<c>negatives</c> &gt; 0) a sampled softmax
/// over that many uniformly drawn items shared by the whole batch, an item equal to a row's target masked
/// (uniform sampling makes the logQ correction a constant, which softmax ignores). Batches are users,
/// through the shared <see cref="EpochTrainer{TBatch}"/> loop (checkpoints, selection by validation recall, early stopping).
/// </summary>
public sealed class SequenceTrainer : EpochTrainer<SequenceTrainer.Batch>
{
    private const string Format = "vrecall-sequence";
    private readonly SequenceEncoder _encoder;
    private readonly RecDataset _data;
    private readonly int[] _trainUsers, _validationUsers;

    private readonly int _negatives;

    public SequenceTrainer(SequenceEncoder encoder, RecDataset data, TrainerOptions options, int negatives = 0)
        : base(encoder, options, UsersWithTwo(data).Length)
    {
        Settings.Check(negatives >= 0, "Negatives", $"must be non-negative (0: full softmax), got {negatives}");
        _negatives = negatives;
        if (encoder.Config.NumItems != data.ItemCount) throw new ArgumentException($"the encoder knows {encoder.Config.NumItems} items, the data set has {data.ItemCount}");
        _encoder = encoder;
        _data = data;
        _trainUsers = UsersWithTwo(data);
        _validationUsers = Enumerable.Range(0, data.UserCount).Where(u => data.Validation.CountOf(u) > 0 && data.Train.CountOf(u) > 0).ToArray();
    }

    /// <summary>Users with at least two training items: one to read, one to predict.</summary>
    private static int[] UsersWithTwo(RecDataset data) => Enumerable.Range(0, data.UserCount).Where(u => data.Train.CountOf(u) >= 2).ToArray();

    /// <summary>Left-padded token rows, the rows that are scored, their target items, and the batch's shared negatives (empty: full softmax).</summary>
    public sealed record Batch(int[] Tokens, SequenceShape Shape, int[] Rows, int[] Targets, int[] Negatives);

    protected override Batch PrepareBatch(int[] order, int start, int count, Rng rng)
    {
        // Each user's latest MaxLength + 1 training items: the first MaxLength are read, the last MaxLength predicted.
        var inputs = new ReadOnlyMemory<int>[count];
        for (int r = 0; r < count; r++)
        {
            int u = _trainUsers[order[start + r]];
            var items = _data.Train.MemoryOf(u);
            var window = items[Math.Max(0, items.Length - _encoder.Config.MaxLength - 1)..];
            inputs[r] = window[..^1];
        }
        var (tokens, shape) = SequenceTokens.Of(inputs, _encoder.Config.MaxLength);
        // Every packed row is a target: position t reads item t and predicts item t + 1 of the window.
        var rows = new int[shape.Rows];
        var targets = new int[shape.Rows];
        for (int r = 0; r < count; r++)
        {
            var items = _data.Train.Of(_trainUsers[order[start + r]]);
            int read = shape.Count(r), first = shape.Start(r);
            for (int t = 0; t < read; t++)
            {
                rows[first + t] = first + t;
                targets[first + t] = items[items.Length - read + t];
            }
        }
        return new Batch(tokens, shape, rows, targets, DrawNegatives(rng));
    }

    /// <summary>The batch's shared negatives, drawn uniformly (none for a full softmax).</summary>
    private int[] DrawNegatives(Rng rng)
    {
        var negatives = new int[_negatives];
        for (int j = 0; j < negatives.Length; j++) negatives[j] = rng.NextInt(_data.ItemCount);
        return negatives;
    }

    protected override Variable Loss(Batch batch)
    {
        var all = _encoder.Forward(batch.Tokens, batch.Shape);
        // Rows are distinct and in order, so as many as the batch holds are all of them (training scores every position): no copy.
        var outputs = batch.Rows.Length == batch.Shape.Rows ? all : Ops.GatherRows(all, batch.Rows);
        if (batch.Negatives.Length == 0) return Ops.CrossEntropy(_encoder.ScoreAllItems(outputs), batch.Targets);
        // Column 0: the target; then the shared negatives, each masked in the rows whose target it is.
        int m = batch.Rows.Length, n = batch.Negatives.Length;
        var positive = Ops.GroupedDot(outputs, _encoder.TokenVectors([.. batch.Targets.Select(t => t + 1)]));
        var negative = Ops.MatMul(outputs, _encoder.TokenVectors([.. batch.Negatives.Select(t => t + 1)]), transposeB: true);
        var mask = new Tensor(m, n + 1);
        for (int r = 0; r < m; r++)
            for (int j = 0; j < n; j++)
                if (batch.Negatives[j] == batch.Targets[r]) mask[r, j + 1] = -1e9f;
        return Ops.CrossEntropy(Ops.Add(Ops.ConcatColumns(positive, negative), new Variable(mask)), new int[m]);
    }

    protected override int ValidationCount => _validationUsers.Length;

    /// <summary>A validation batch: each user's training sequence read whole, its validation item predicted at the last position.</summary>
    protected override Batch PrepareValidationBatch(int[] order, int start, int count, Rng rng)
    {
        var inputs = new ReadOnlyMemory<int>[count];
        var targets = new int[count];
        for (int r = 0; r < count; r++)
        {
            int u = _validationUsers[order[start + r]];
            inputs[r] = _data.Train.MemoryOf(u);
            targets[r] = _data.Validation.Of(u)[0];
        }
        var (tokens, shape) = SequenceTokens.Of(inputs, _encoder.Config.MaxLength);
        var rows = Enumerable.Range(0, count).Select(r => shape.Start(r) + shape.Count(r) - 1).ToArray();
        return new Batch(tokens, shape, rows, targets, DrawNegatives(rng));
    }

    /// <summary>Recall@<see cref="EpochTrainer{TBatch}.SelectionK"/> of exact search over the item table for the validation users, their training items excluded.</summary>
    public override double ValidationRecall()
    {
        if (_validationUsers.Length == 0) return double.NaN;
        int k = Math.Min(SelectionK, _data.ItemCount);
        return Evaluate(_data.Train, _data.Validation, _data.Train, _validationUsers, [k]).Metrics.Get(RankingMetric.Recall, k);
    }

    /// <summary>
    /// Ranking metrics for <paramref name="users"/>: each reads its <paramref name="history"/>, searches the item table
    /// exactly with its <paramref name="exclude"/> items refused, and is judged against <paramref name="relevant"/>.
    /// </summary>
    public EvaluationResult Evaluate(UserItemLists history, UserItemLists relevant, UserItemLists exclude, IReadOnlyList<int> users, IReadOnlyList<int> ks)
    {
        var queries = EncodeUsers(history, users);
        using var exact = new IndexRetriever(TowerEncoder.BuildIndex(ItemVectors(), "Flat"));
        return RetrievalEvaluator.Evaluate(exact, queries, users, relevant, exclude, ks);
    }

    /// <summary>The users' vectors from their histories, in evaluation mode without recording, in batches.</summary>
    public Tensor EncodeUsers(UserItemLists history, IReadOnlyList<int> users)
    {
        _encoder.Eval();
        var result = new Tensor(users.Count, _encoder.Config.Dim);
        const int chunk = 1024;
        Tape.NoGrad(() =>
        {
            for (int start = 0; start < users.Count; start += chunk)
            {
                int n = Math.Min(chunk, users.Count - start);
                var histories = new ReadOnlyMemory<int>[n];
                for (int r = 0; r < n; r++) histories[r] = history.MemoryOf(users[start + r]);
                SequenceTokens.Latest(_encoder, histories).Value.Span.CopyTo(result.RowRange(start, n).Span);
            }
            return 0;
        });
        _encoder.Train();
        return result;
    }

    /// <summary>Every item's vector (<see cref="SequenceEncoder.ItemVectors"/>): what serving indexes.</summary>
    public Tensor ItemVectors() => _encoder.ItemVectors();

    protected override void SaveCheckpoint(string path, Optimizer? optimizer, CheckpointInfo info) =>
        TrainingCheckpoint.Save(path, _encoder, new CheckpointKind(Format, _encoder.Config.ToJson()), optimizer, info);

    protected override CheckpointInfo LoadCheckpoint(string path, Optimizer? optimizer) =>
        TrainingCheckpoint.Load(path, _encoder, Format, m => TrainingCheckpoint.ConfigJson(path, m) == _encoder.Config.ToJson(), _encoder.Config.ToJson(), optimizer).Info;
}
