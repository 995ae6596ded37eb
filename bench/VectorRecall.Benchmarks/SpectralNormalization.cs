using System.Diagnostics;
using VectorRecall.Autograd;
using VectorRecall.Data;
using VectorRecall.Numerics;
using VectorRecall.Retrieval;
using VectorRecall.Towers;
using VectorRecall.TwoTower;

namespace VectorRecall.Benchmarks;

/// <summary>
/// `-- spectral DATASET DIR RANK ε,ε,… [MIRROR_FRACTION]`: the spectral two-tower at each graph normalisation ε (α = β = ε,
/// the window on, γ ∈ {0, ¼, ½}) on three splits: the selection's validation (the model on train), a mirror split of
/// train + validation that holds out the given fraction of each user's items at random (default 0.2), and the test split
/// (the model on train + validation). Recall@20 and NDCG@20 over every user with held-out items, exact search.
/// </summary>
internal static class SpectralNormalization
{
    public static void Run(string[] args)
    {
        var data = RecDataset.FromInteractions(DatasetLoaders.Load(args[0], args[1]));
        int rank = int.Parse(args[2]);
        var normalizations = args[3].Split(',').Select(float.Parse).ToArray();
        double fraction = args.Length > 4 ? double.Parse(args[4]) : 0.2;
        var all = data.Train.Concat(data.Validation);
        var (mirrorTrain, mirrorHeld) = Mirror(all, fraction);
        foreach (float e in normalizations)
        {
            Report("validation", data, data.Train, data.Validation, rank, e);
            Report("mirror", data, mirrorTrain, mirrorHeld, rank, e);
            Report("test", data, all, data.Test, rank, e);
        }
    }

    private static (UserItemLists Train, UserItemLists Held) Mirror(UserItemLists all, double fraction)
    {
        var rng = new Random(7);
        var train = new List<int>[all.UserCount];
        var held = new List<int>[all.UserCount];
        for (int u = 0; u < all.UserCount; u++)
        {
            var items = all.Of(u).ToArray();
            rng.Shuffle(items);
            int h = (int)(items.Length * fraction);
            held[u] = [.. items[..h]];
            train[u] = [.. items[h..]];
        }
        return (UserItemLists.FromLists(train), UserItemLists.FromLists(held));
    }

    private static void Report(string split, RecDataset data, UserItemLists history, UserItemLists held, int rank, float e)
    {
        var clock = Stopwatch.StartNew();
        var (factors, values, _) = IdealLowPassFilter.Decompose(history, data.ItemCount, [rank], normalization: e);
        var users = Enumerable.Range(0, data.UserCount).Where(u => held.CountOf(u) > 0 && history.CountOf(u) > 0).ToArray();
        var batch = UserBatch.Gather(users, data.UserFeatures, history, int.MaxValue);
        using var index = new IndexRetriever(TowerEncoder.BuildIndex(factors[0].ItemSide, "Flat"));
        var summed = Tape.NoGrad(() => Ops.EmbeddingBag(factors[0].UserSide, batch.HistoryItems, batch.HistoryOffsets, BagMode.Sum).Value);
        foreach (float gamma in new[] { 0f, 0.25f, 0.5f })
        {
            var queries = summed.Clone();
            SpectralTwoTower.Weight(queries, values, gamma, SpectralTwoTower.Window);
            var m = RetrievalEvaluator.Evaluate(index, queries, users, held, history, [20]).Metrics;
            Console.WriteLine($"{split,-10} ε {e} γ {gamma}: Recall@20 {m.Get(RankingMetric.Recall, 20):F4} NDCG@20 {m.Get(RankingMetric.Ndcg, 20):F4} ({users.Length} users)");
        }
        Console.WriteLine($"{split,-10} ε {e}: {clock.Elapsed.TotalSeconds:F0} s");
    }
}
