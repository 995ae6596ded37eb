using VectorRecall.Data;
using VectorRecall.Indexing;
using VectorRecall.Numerics;
using VectorRecall.Retrieval;

namespace VectorRecall.Tests.Retrieval;

public class PopularityRetrieverTests
{
    [Fact]
    public void RanksAsExactSearchOverTheCountsWithTiesAndExclusions()
    {
        var rng = new Rng(3);
        const int items = 300, users = 40;
        // Few interactions per item, so counts tie often and the tie order matters.
        var train = UserItemLists.FromLists(Enumerable.Range(0, users).Select(_ => (IReadOnlyList<int>)Enumerable.Range(0, 12).Select(_ => rng.NextInt(items)).ToList()).ToList());
        var counts = train.ItemCounts(items);
        using var flat = new FlatIndex(1, Metric.InnerProduct);
        flat.Add(Enumerable.Range(0, items).Select(i => (long)i).ToArray(), counts.Select(c => (float)c).ToArray());
        using var popularity = new PopularityRetriever(train, items);
        Assert.Equal(items, popularity.ItemCount);
        foreach (int k in new[] { 1, 20, items })
        {
            var options = Enumerable.Range(0, users).Select(u => SearchOptions.Of(ExcludedIds.Of(train.Of(u)), 0)).ToArray();
            var queries = PopularityRetriever.Queries(users);
            var (ids, scores, found) = (new long[users * k], new float[users * k], new int[users]);
            var (expectedIds, expectedScores, expectedFound) = (new long[users * k], new float[users * k], new int[users]);
            popularity.SearchBatch(queries.Span, k, ids, scores, found, options);
            flat.SearchBatch(queries.Span, k, expectedIds, expectedScores, expectedFound, options);
            Assert.Equal(expectedFound, found);
            Assert.Equal(expectedIds, ids);
            Assert.Equal(expectedScores, scores);
        }
        Assert.Throws<ArgumentException>(() => popularity.Search(new float[2], 5, new long[5], new float[5]));
    }
}
