using VectorRecall.Autograd;
using VectorRecall.Data;
using VectorRecall.Numerics;
using VectorRecall.Optim;
using VectorRecall.Retrieval;

namespace VectorRecall.Tdm;

/// <summary>
/// What the leaf scorer learns from and is measured on: for each validation user, its vector (from its train items) and
/// the leaves an inner-product route's beam reaches for it, its train items left out (search's results leave them out
/// too); an example is a user with one of its held-out items among those leaves. The lists are fixed while the MLP
/// trains, because the route is.
/// </summary>
internal sealed class LeafLists
{
    private readonly int[] _leaves, _offsets;
    private readonly Tensor _vectors;
    private readonly HashSet<int>[] _relevant;
    private readonly ItemTree _tree;

    private LeafLists(int[] users, Tensor vectors, int[] leaves, int[] offsets, HashSet<int>[] relevant, ItemTree tree, int[] exampleUser, int[] examplePosition)
    {
        Users = users;
        _vectors = vectors;
        _leaves = leaves;
        _offsets = offsets;
        _relevant = relevant;
        _tree = tree;
        ExampleUser = exampleUser;
        ExamplePosition = examplePosition;
        for (int u = 0; u < users.Length; u++) Width = Math.Max(Width, offsets[u + 1] - offsets[u]);
    }

    /// <summary>The validation users (data set ids), in list order.</summary>
    public int[] Users { get; }
    /// <summary>The longest list.</summary>
    public int Width { get; }
    /// <summary>Example e is list <see cref="ExampleUser"/>[e]'s leaf at <see cref="ExamplePosition"/>[e], a held-out item.</summary>
    public int ExampleCount => ExampleUser.Length;
    public int[] ExampleUser { get; }
    public int[] ExamplePosition { get; }

    public static LeafLists Build(TdmModel route, ItemTree tree, RecDataset data, int beam, CancellationToken cancel)
    {
        var users = Enumerable.Range(0, data.UserCount).Where(u => data.Validation.CountOf(u) > 0).ToArray();
        var vectors = users.Length == 0 ? new Tensor(0, route.Config.Dimension) : TdmRetriever.EncodeUsers(route, data, users, data.Train);
        var lists = new int[users.Length][];
        var relevant = new HashSet<int>[users.Length];
        using var traces = new ThreadLocal<BeamTrace>(() => new BeamTrace());
        Parallel.For(0, users.Length, new ParallelOptions { MaxDegreeOfParallelism = Threads.Options.MaxDegreeOfParallelism, CancellationToken = cancel }, i =>
        {
            var trace = traces.Value!;
            BeamSearch.Trace(tree, route, vectors.Row(i), beam, trace);
            var seen = data.Train.Of(users[i]);
            var reached = new List<int>();
            foreach (int leaf in trace.Nodes(tree.LevelCount - 1))
                if (!seen.Contains(tree.LeafItem(leaf))) reached.Add(leaf);
            lists[i] = [.. reached];
            relevant[i] = [.. data.Validation.Of(users[i])];
        });
        var offsets = new int[users.Length + 1];
        for (int i = 0; i < users.Length; i++) offsets[i + 1] = offsets[i] + lists[i].Length;
        var leaves = lists.SelectMany(l => l).ToArray();
        var exampleUser = new List<int>();
        var examplePosition = new List<int>();
        for (int i = 0; i < users.Length; i++)
            for (int p = 0; p < lists[i].Length; p++)
                if (relevant[i].Contains(tree.LeafItem(lists[i][p]))) { exampleUser.Add(i); examplePosition.Add(p); }
        return new LeafLists(users, vectors, leaves, offsets, relevant, tree, [.. exampleUser], [.. examplePosition]);
    }

    private ReadOnlySpan<int> List(int user) => _leaves.AsSpan(_offsets[user], _offsets[user + 1] - _offsets[user]);

    /// <summary>
    /// The sum over <paramref name="users"/> (list indexes) of Recall@20 (the selection's K) when
    /// <paramref name="model"/> ranks each list, as search would rank those leaves.
    /// </summary>
    public double RecallSum(TdmModel model, int[] users)
    {
        int k = TdmTrainer.SelectionK;
        var sums = new double[users.Length];
        Parallel.For(0, users.Length, Threads.Options, () => (new float[Width], new long[k], new float[k]), (i, _, buffers) =>
        {
            var (scores, ids, best) = buffers;
            int u = users[i];
            var list = List(u);
            model.Score(_vectors.Row(u), list, scores.AsSpan(0, list.Length));
            var top = new TopK(k, ids, best);
            for (int p = 0; p < list.Length; p++) top.Push(_tree.LeafItem(list[p]), scores[p]);
            sums[i] = RankingMetrics.RecallOf(ids.AsSpan(0, top.SortBestFirst()), _relevant[u]);
            return buffers;
        }, _ => { });
        return sums.Sum();
    }

    /// <summary>
    /// One pass over <paramref name="examples"/> (every example when null) in a random order: each example's softmax over its user's list, the held-out
    /// item the target and the user's other held-out items masked; returns the mean loss.
    /// </summary>
    public double Epoch(TdmModel model, Optimizer optimizer, int[]? examples, int batchSize, Rng rng)
    {
        model.Train();
        var order = examples is null ? Enumerable.Range(0, ExampleCount).ToArray() : (int[])examples.Clone();
        rng.Shuffle(order.AsSpan());
        double sum = 0;
        int steps = 0;
        for (int start = 0; start < order.Length; start += batchSize)
        {
            int count = Math.Min(batchSize, order.Length - start);
            var batch = order.AsSpan(start, count);
            var users = new Tensor(count, _vectors.Cols);
            var candidates = new int[count * Width];
            var shift = new Tensor(count, Width);
            var targets = new int[count];
            for (int r = 0; r < count; r++)
            {
                int e = batch[r], u = ExampleUser[e];
                _vectors.Row(u).CopyTo(users.Row(r));
                var list = List(u);
                list.CopyTo(candidates.AsSpan(r * Width));
                // Short lists are padded with their first leaf, masked like the user's other held-out items.
                candidates.AsSpan(r * Width + list.Length, Width - list.Length).Fill(list[0]);
                var row = shift.Row(r);
                row[list.Length..].Fill(Masked);
                for (int p = 0; p < list.Length; p++)
                    if (p != ExamplePosition[e] && _relevant[u].Contains(_tree.LeafItem(list[p]))) row[p] = Masked;
                targets[r] = ExamplePosition[e];
            }
            using var tape = new Tape(pooled: true);
            var logits = Ops.Add(model.Logits(new Variable(users), candidates), new Variable(shift));
            var loss = Ops.CrossEntropy(logits, targets);
            tape.Backward(loss);
            optimizer.StepAndZeroGrad();
            model.Nodes.Weight.ZeroGrad();  // the leaves' rows got a gradient the optimiser does not own: the route stays as trained
            sum += loss.Value[0];
            steps++;
        }
        model.Eval();
        return sum / Math.Max(1, steps);
    }

    /// <summary>A logit shift that takes a candidate out of the softmax.</summary>
    private const float Masked = -1e9f;
}
