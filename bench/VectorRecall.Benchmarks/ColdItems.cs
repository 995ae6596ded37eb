using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using System.Diagnostics;
using VectorRecall.Data;
using VectorRecall.IO;
using VectorRecall.Numerics;
using VectorRecall.Retrieval;
using VectorRecall.Towers;
using VectorRecall.TwoTower;

namespace VectorRecall.Benchmarks;

/// <summary>
/// <c>-- cold-items CHECKPOINT [users]</c>: how well the item tower places an item from its features alone (the vector a
/// live item put by its features gets, <see cref="ItemFeatureEncoder"/>), on the demo's generated data (its defaults, seed 42)
/// with a two-tower checkpoint trained on it. Test-split recall and NDCG at 10/50/500 of the trained vectors against every
/// item encoded with each candidate id row (zeros, the mean of the trained rows), and the mean cosine between an item's
/// trained and feature-only vectors. The items were in training, so this bounds what a truly new item gets from above.
/// </summary>
internal static class ColdItems
{
    public static void Run(string[] args)
    {
        string checkpoint = args.Length > 0 ? args[0] : throw new ArgumentException("usage: cold-items CHECKPOINT [users]");
        int evalUsers = args.Length > 1 ? int.Parse(args[1]) : 2000;
        var (_, metadata) = SafeTensors.Read(checkpoint);
        var config = TowerConfig.FromJson(metadata["model_config"], checkpoint);
        var model = new TwoTowerModel(config, new Rng(0));
        TwoTowerCheckpoint.Load(checkpoint, model);
        var clock = Stopwatch.StartNew();
        var data = SyntheticGenerator.Generate(new SyntheticOptions()).Dataset;
        Console.WriteLine($"data generated in {clock.Elapsed.TotalSeconds:F1} s: {data.UserCount:N0} users, {data.ItemCount:N0} items");
        if (data.ItemCount != config.NumItems) throw new ArgumentException($"the checkpoint has {config.NumItems} items, the demo's data {data.ItemCount}");
        var known = data.Train.Concat(data.Validation);
        var users = Enumerable.Range(0, data.UserCount).Where(u => data.Test.CountOf(u) > 0).Take(evalUsers).ToArray();
        var queries = TowerEncoder.EncodeUsers(model.User, UserBatch.Gather(users, data.UserFeatures, known, config.HistoryLength));
        int[] ks = [10, 50, 500];

        var trained = TowerEncoder.EncodeItems(model.Item, data.Items);
        var idTable = model.Item.Id.Weight.Value;
        var saved = idTable.ToArray();
        var mean = new float[idTable.Cols];
        for (int r = 0; r < idTable.Rows; r++) TensorPrimitives.Add(mean, idTable.Row(r), mean);
        TensorPrimitives.Divide(mean, idTable.Rows, mean);
        Console.WriteLine($"{users.Length} test users; item vectors {trained.Cols}-d; id rows {idTable.Cols}-d, mean row norm {TensorPrimitives.Norm(mean):F3}, mean trained row norm {Enumerable.Range(0, idTable.Rows).Average(r => TensorPrimitives.Norm(idTable.Row(r))):F3}");
        using (var popularity = new PopularityRetriever(data.Train, data.ItemCount))
            Console.WriteLine($"{"popularity",-16} " + Metrics(RetrievalEvaluator.Evaluate(popularity, PopularityRetriever.Queries(users.Length), users, data.Test, known, ks).Metrics, ks));
        Report("trained vectors", trained, trained, queries, users, data, known, ks);
        foreach (var (name, row) in new[] { ("id row = zeros", new float[idTable.Cols]), ("id row = mean", mean) })
        {
            for (int r = 0; r < idTable.Rows; r++) row.CopyTo(idTable.Row(r));
            Report(name, TowerEncoder.EncodeItems(model.Item, data.Items), trained, queries, users, data, known, ks);
        }
        saved.CopyTo(idTable.Span);
    }

    private static void Report(string name, Tensor items, Tensor trained, Tensor queries, int[] users, RecDataset data, UserItemLists known, int[] ks)
    {
        using var flat = new IndexRetriever(TowerEncoder.BuildIndex(items, "Flat"));
        var m = RetrievalEvaluator.Evaluate(flat, queries, users, data.Test, known, ks).Metrics;
        double cosine = 0;
        for (int r = 0; r < items.Rows; r++)
            cosine += TensorPrimitives.CosineSimilarity(items.Row(r), trained.Row(r));
        Console.WriteLine($"{name,-16} {Metrics(m, ks)}  cos to trained {cosine / items.Rows:F3}");
    }

    private static string Metrics(RankingMetrics m, int[] ks) =>
        string.Join("  ", ks.Select(k => $"R@{k} {m.Get(RankingMetric.Recall, k):F4} N@{k} {m.Get(RankingMetric.Ndcg, k):F4}"));
}
