using VectorRecall.Retrieval;

namespace VectorRecall.Tests.Retrieval;

public class RankingMetricsTests
{
    [Fact]
    public void MatchesHandComputedValues()
    {
        var m = new RankingMetrics([1, 3]);
        // Relevant {5, 9}; ranking 7, 5, 9: hits at ranks 2 and 3.
        m.Add([7, 5, 9], new HashSet<int> { 5, 9 });
        Assert.Equal(0, m.Get(RankingMetric.Hit, 1));
        Assert.Equal(1, m.Get(RankingMetric.Hit, 3));
        Assert.Equal(1, m.Get(RankingMetric.Recall, 3));
        Assert.Equal(2.0 / 3, m.Get(RankingMetric.Precision, 3), 10);
        Assert.Equal(0.5, m.Get(RankingMetric.Mrr, 3), 10);
        double dcg = 1 / Math.Log2(3) + 1 / Math.Log2(4), idcg = 1 + 1 / Math.Log2(3);
        Assert.Equal(dcg / idcg, m.Get(RankingMetric.Ndcg, 3), 10);
        Assert.Throws<ArgumentException>(() => m.Get(RankingMetric.Hit, 2));
    }
}
