using System.Text.Json;
using VectorRecall.Towers;
using VectorRecall.Data;
using VectorRecall.Numerics;
using VectorRecall.Retrieval;

namespace VectorRecall.Tests.Retrieval;

[Collection(ConsoleCollection.Name)]
public class EvalTests
{
    [Fact]
    public void APerfectRankerScoresOne()
    {
        // Three users with test items; a ranker that returns exactly each user's test items first.
        var test = UserItemLists.FromLists([[4], [1, 2], [0, 3, 5]]);
        var users = new[] { 0, 1, 2 };
        // User u's query is [u]; item i's vector is one-hot on the users that hold it, so a user's test items score 1, the rest 0.
        var items = new Tensor(6, 3);
        for (int u = 0; u < 3; u++) foreach (int t in test.Of(u)) items[t, u] = 1;
        var queries = new Tensor(3, 3);
        for (int u = 0; u < 3; u++) queries[u, u] = 1;
        using var perfect = new IndexRetriever(TowerEncoder.BuildIndex(items, "Flat"));
        var r = RetrievalEvaluator.Evaluate(perfect, queries, users, test, null, [1, 3, 5]);
        Assert.Equal(1.0, r.Metrics.Get(RankingMetric.Hit, 1));
        Assert.Equal(1.0, r.Metrics.Get(RankingMetric.Mrr, 1));
        Assert.Equal(1.0, r.Metrics.Get(RankingMetric.Ndcg, 1));
        Assert.Equal(1.0, r.Metrics.Get(RankingMetric.Ndcg, 5), 10);
        Assert.Equal(1.0, r.Metrics.Get(RankingMetric.Recall, 3));
        // Recall@1 cannot reach 1 for users with several test items: (1 + 1/2 + 1/3) / 3.
        Assert.Equal((1 + 0.5 + 1.0 / 3) / 3, r.Metrics.Get(RankingMetric.Recall, 1), 10);
        Assert.True(r.SearchSeconds >= 0 && r.TotalSeconds >= r.SearchSeconds);
    }

    [Fact]
    public void ManyTestItemsMakeRecallFarBelowHitRate()
    {
        var m = new RankingMetrics([10]);
        var relevant = Enumerable.Range(100, 50).ToHashSet();  // 50 test items
        m.Add([100, 1, 2, 3, 4, 5, 6, 7, 8, 9], relevant);      // one of them found, at rank 1
        Assert.Equal(1.0, m.Get(RankingMetric.Hit, 10));
        Assert.Equal(1.0 / 50, m.Get(RankingMetric.Recall, 10), 10);
        Assert.Equal(0.1, m.Get(RankingMetric.Precision, 10), 10);
        double idcg = Enumerable.Range(1, 10).Sum(r => 1 / Math.Log2(r + 1));
        Assert.Equal(1 / idcg, m.Get(RankingMetric.Ndcg, 10), 10);
    }

    [Fact]
    public void NaiveSearchRanksLikeExactSearch()
    {
        var rng = new Rng(8);
        var items = Tensor.Randn(rng, 1f, 300, 16);
        var queries = Tensor.Randn(rng, 1f, 5, 16);
        var ids = new long[5 * 10]; var scores = new float[5 * 10]; var counts = new int[5];
        new NaiveSearch(items).SearchBatch(queries.Span, 10, ids, scores, counts);
        using var flat = new VectorRecall.Indexing.FlatIndex(16, VectorRecall.Indexing.Metric.InnerProduct);
        flat.Add(Enumerable.Range(0, 300).Select(i => (long)i).ToArray(), items.Span);
        var exactIds = new long[50]; var exactScores = new float[50];
        flat.SearchBatch(queries.Span, 10, exactIds, exactScores, new int[5]);
        Assert.Equal(exactIds, ids);
    }

    [Fact]
    public void EvalCommandTrainsThenEvaluatesEveryRetriever()
    {
        using var dir = new TempDir();
        var lines = Enumerable.Range(0, 80).Select(u => $"{u + 1} " + string.Join(" ", Enumerable.Range(0, 9).Select(j => 1 + (u * 3 + j) % 60)));
        File.WriteAllLines(dir.File("seq.txt"), lines);
        Assert.Equal(0, VectorRecall.Cli.Program.Main(["train", "--dataset", "sequences", "--data", dir.File("seq.txt"), "--epochs", "1", "--batch-size", "64",
            "--num-negatives", "2", "--hidden", "32", "--embedding-dim", "16", "--top-k", "20", "--bundle", dir.File("b"), "--run-dir", dir.File("run")]));
        Assert.Equal(0, VectorRecall.Cli.Program.Main(["eval", "--dataset", "sequences", "--data", dir.File("seq.txt"), "--bundle", dir.File("b"),
            "--retriever", "flat,bundle,scalar,popularity", "--json", dir.File("r.json")]));
        using var doc = JsonDocument.Parse(File.ReadAllText(dir.File("r.json")));
        var retrievers = doc.RootElement.GetProperty("retrievers");
        foreach (var name in new[] { "flat", "hnsw", "scalar", "popularity" })
            Assert.True(retrievers.GetProperty(name).TryGetProperty("recall@20", out _), name);
        Assert.Equal(retrievers.GetProperty("flat").GetProperty("ndcg@10").GetDouble(), retrievers.GetProperty("scalar").GetProperty("ndcg@10").GetDouble(), 4);
        // A bundle trained on other data is refused.
        File.WriteAllLines(dir.File("other.txt"), ["1 1 2 3"]);
        Assert.Equal(1, VectorRecall.Cli.Program.Main(["eval", "--dataset", "sequences", "--data", dir.File("other.txt"), "--bundle", dir.File("b")]));
        Assert.Equal(1, VectorRecall.Cli.Program.Main(["eval", "--dataset", "sequences", "--data", dir.File("seq.txt"), "--bundle", dir.File("b"), "--retriever", "annoy"]));
    }
}
