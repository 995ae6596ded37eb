using VectorRecall.Data;
using VectorRecall.Numerics;
using VectorRecall.Optim;

namespace VectorRecall.Tdm;

/// <summary>Settings of the leaf scorer's stage (<see cref="LeafScorerTraining"/>).</summary>
public sealed record LeafScorerOptions
{
    /// <summary>Hidden sizes of the MLP over [user, leaf, user ⊙ leaf] (PReLU between layers, one output).</summary>
    public int[] Hidden { get; init; } = [64, 32];
    /// <summary>The most passes over the examples; the cross-fit picks how many of them the final scorer gets.</summary>
    public int MaxEpochs { get; init; } = 20;
    public int BatchSize { get; init; } = 256;
    public double LearningRate { get; init; } = 1e-3;
    public double WeightDecay { get; init; } = 1e-4;
    /// <summary>Width of the beam whose leaves are ranked, in training as in search.</summary>
    public int Beam { get; init; } = 100;
    public ulong Seed { get; init; } = 42;

    public void Validate()
    {
        Settings.Check(Hidden.Length > 0 && Hidden.All(h => h >= 1), nameof(Hidden), $"sizes must be >= 1, got [{string.Join(", ", Hidden)}]");
        Settings.Check(MaxEpochs >= 1, nameof(MaxEpochs), $"must be at least 1, got {MaxEpochs}");
        Settings.Check(BatchSize >= 1, nameof(BatchSize), $"must be at least 1, got {BatchSize}");
        Settings.Check(LearningRate > 0, nameof(LearningRate), $"must be positive, got {LearningRate}");
        Settings.Check(WeightDecay >= 0, nameof(WeightDecay), $"must be 0 or more, got {WeightDecay}");
        Settings.Check(Beam >= TdmTrainer.SelectionK, nameof(Beam), $"({Beam}) must be at least {TdmTrainer.SelectionK}, the K of the validation recall");
    }
}

/// <summary>
/// The leaf scorer's outcome: the model (the route's, with its leaves ranked by the MLP), its validation Recall@20 held out
/// by the cross-fit, the route's own on the same users, the epochs the final scorer trained, and the cross-fit's recall after
/// each epoch (index 0: before training, the route's ranking).
/// </summary>
public sealed record LeafScorerResult(TdmModel Model, double ValidationRecall, double RouteRecall, int Epochs, IReadOnlyList<double> RecallByEpoch);

/// <summary>
/// A learned, non-inner-product ranking of the leaves a trained inner-product route reaches (the design note's claim: a
/// better scorer searched over the tree beats exact inner-product search). The route stays as trained; an MLP over
/// [user, leaf, user ⊙ leaf], starting as the inner product, learns to rank the leaves its beam reaches for each
/// validation user, with the user's held-out item as the positive and the other reached leaves as negatives — the
/// training list is exactly what search will rank (beam-consistent, as OTM asks), and the user's vector is built from
/// train items alone, as for a test user. The tower never trained on these items, so the MLP learns what its inner product
/// misses on items it has not seen, where training interactions would teach it to trust the fitted scores.
/// How long to train is chosen by a two-fold cross-fit over the validation users (each fold's scorer trains on the other
/// fold and is measured on its own), so the reported recall is held out and comparable with the route's on the same users;
/// the final scorer then trains on every validation user for the chosen number of epochs.
/// </summary>
public static class LeafScorerTraining
{
    /// <summary>Trains the leaf scorer over <paramref name="route"/> (an inner-product model) and <paramref name="tree"/>.</summary>
    public static LeafScorerResult Fit(TdmModel route, ItemTree tree, RecDataset data, LeafScorerOptions options, Action<string>? log = null, CancellationToken cancel = default)
    {
        options.Validate();
        if (route.Config.Scorer != NodeScorerKind.InnerProduct) throw new ArgumentException($"the leaf scorer ranks an inner-product route's leaves; this model's scorer is {route.Config.Scorer}");
        if (route.Config.Nodes != tree.NodeCount || tree.LevelStart(tree.LevelCount - 1) != route.FirstLeaf)
            throw new ArgumentException($"the model has {route.Config.Nodes} nodes with leaves from row {route.FirstLeaf}, the tree {tree.NodeCount} with leaves from row {tree.LevelStart(tree.LevelCount - 1)}");
        var lists = LeafLists.Build(route, tree, data, options.Beam, cancel);
        log?.Invoke($"leaf_mlp: {lists.Users.Length:N0} validation users, {lists.ExampleCount:N0} with their held-out item in the beam's leaves (about {lists.Width} leaves each)");
        if (lists.ExampleCount == 0)
        {
            // Nothing to learn from: the scorer stays the route's inner product, and its recall is the route's.
            var untrained = NewScorer(route, options);
            double own = lists.Users.Length == 0 ? double.NaN : lists.RecallSum(untrained, [.. Enumerable.Range(0, lists.Users.Length)]) / lists.Users.Length;
            log?.Invoke("leaf_mlp: no held-out item is among the leaves its user's beam reaches; the leaves keep the route's ranking");
            return new LeafScorerResult(untrained, own, own, 0, [own]);
        }

        // Two folds of users, drawn at random; each fold's held-out recall after every epoch.
        var fold = new int[lists.Users.Length];
        var order = Enumerable.Range(0, fold.Length).ToArray();
        new Rng(options.Seed ^ 0x1EAFUL).Shuffle(order.AsSpan());
        for (int i = 0; i < order.Length; i++) fold[order[i]] = i % 2;
        var hits = new double[options.MaxEpochs + 1];
        for (int f = 0; f < 2; f++)
        {
            int held = f;
            var measured = Enumerable.Range(0, fold.Length).Where(u => fold[u] == held).ToArray();
            var train = Enumerable.Range(0, lists.ExampleCount).Where(e => fold[lists.ExampleUser[e]] != held).ToArray();
            Train(route, lists, options, train, options.MaxEpochs, (ulong)f, (model, epoch, loss) =>
            {
                hits[epoch] += lists.RecallSum(model, measured);
                if (epoch > 0) log?.Invoke($"leaf_mlp: fold {f + 1} of 2, epoch {epoch}: loss {loss:F4}, held-out Recall@{TdmTrainer.SelectionK} {hits[epoch] / CountIn(fold, f):F4} so far");
            }, cancel);
        }
        var recall = hits.Select(h => h / lists.Users.Length).ToArray();
        int best = Enumerable.Range(0, recall.Length).MaxBy(e => (recall[e], -e));
        log?.Invoke($"leaf_mlp: cross-fitted validation Recall@{TdmTrainer.SelectionK} {recall[best]:F4} after {best} epochs (the route's {recall[0]:F4}); training on every validation user");
        var final = Train(route, lists, options, null, best, 2, null, cancel);
        return new LeafScorerResult(final, recall[best], recall[0], best, recall);
    }

    /// <summary>A leaf scorer over <paramref name="route"/> trained on every validation user's list for <paramref name="epochs"/> epochs.</summary>
    internal static TdmModel Train(TdmModel route, ItemTree tree, RecDataset data, LeafScorerOptions options, int epochs) =>
        Train(route, LeafLists.Build(route, tree, data, options.Beam, CancellationToken.None), options, null, epochs, 2, null, CancellationToken.None);

    /// <summary>
    /// A new scorer trained on <paramref name="examples"/> (all of them when null) for <paramref name="epochs"/> epochs, its
    /// shuffles drawn from stream <paramref name="stream"/> of the seed; <paramref name="measure"/> sees it before training
    /// (epoch 0) and after each epoch.
    /// </summary>
    private static TdmModel Train(TdmModel route, LeafLists lists, LeafScorerOptions options, int[]? examples, int epochs, ulong stream,
        Action<TdmModel, int, double>? measure, CancellationToken cancel)
    {
        var model = NewScorer(route, options);
        var rng = new Rng(options.Seed + stream);
        var optimizer = new AdamW([.. model.Mlp!.Parameters(), .. model.Skip!.Parameters()], options.LearningRate, weightDecay: options.WeightDecay);
        measure?.Invoke(model, 0, double.NaN);
        for (int epoch = 1; epoch <= epochs; epoch++)
        {
            cancel.ThrowIfCancellationRequested();
            double loss = lists.Epoch(model, optimizer, examples, options.BatchSize, rng);
            measure?.Invoke(model, epoch, loss);
        }
        return model;
    }

    /// <summary>Users in fold <paramref name="f"/> up to and including the folds measured so far (the running figure's denominator).</summary>
    private static int CountIn(int[] fold, int f) => fold.Count(x => x <= f);

    /// <summary>A leaf-MLP model whose user encoder and node table are the route's; its MLP starts as the route's inner product.</summary>
    private static TdmModel NewScorer(TdmModel route, LeafScorerOptions options)
    {
        var model = new TdmModel(route.Config with { Scorer = NodeScorerKind.LeafMlp, MlpHidden = options.Hidden }, new Rng(options.Seed ^ 0x5C0EUL));
        model.UserEncoder.LoadStateDict(route.UserEncoder.StateDict());
        route.Nodes.Weight.Value.Span.CopyTo(model.Nodes.Weight.Value.Span);
        return model;
    }
}
