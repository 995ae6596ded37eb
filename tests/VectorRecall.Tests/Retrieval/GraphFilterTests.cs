using VectorRecall.Data;
using VectorRecall.Indexing;
using VectorRecall.Retrieval;

namespace VectorRecall.Tests.Retrieval;

public class GraphFilterTests
{
    // Five nodes: user 0 chose items 0 and 1, user 1 items 1 and 2. Degrees: users 2, 2; items 1, 2, 1.
    private static readonly UserItemLists Toy = new([0, 2, 4], [0, 1, 1, 2]);

    [Fact]
    public void TheFilterIsTheNormalisedItemItemMatrixByHand()
    {
        using var filter = GraphFilterRetriever.Build(Toy, 3);
        // P_ij = Σ_u r_ui r_uj / (d_u √(d_i d_j)): P00 = 1/2, P01 = 1/(2√2), P02 = 0, P11 = 1/4 + 1/4, P12 = 1/(2√2), P22 = 1/2.
        float c = 1f / (2 * MathF.Sqrt(2));
        float[][] expected = [[0.5f, c, 0], [c, 0.5f, c], [0, c, 0.5f]];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) Assert.Equal(expected[i][j], filter.FilterRow(i)[j], 5);
    }

    [Fact]
    public void AUserIsScoredByItsRowTimesTheFilter()
    {
        using var filter = GraphFilterRetriever.Build(Toy, 3);
        var query = new float[3];
        GraphFilterRetriever.Query(Toy.Of(0), query);
        var ids = new long[3];
        var scores = new float[3];
        // Scores [1/2 + c, c + 1/2, c]: items 0 and 1 tie, item 2 last.
        Assert.Equal(3, filter.Search(query, 3, ids, scores));
        Assert.Equal(2, ids[2]);
        Assert.Equal(0.5f + 1f / (2 * MathF.Sqrt(2)), scores[0], 5);
        Assert.Equal(1f / (2 * MathF.Sqrt(2)), scores[2], 5);
        // Its own items refused inside the search: item 2 alone.
        var options = SearchOptions.Of(ExcludedIds.Of(Toy.Of(0)), 0);
        Assert.Equal(1, filter.Search(query, 3, ids, scores, options));
        Assert.Equal(2, ids[0]);
    }

    [Fact]
    public void AFullRankLowPassPartAddsTheWeightedHistory()
    {
        // With every eigenvector kept, D^(−1/2) V Vᵀ D^(1/2) = I: the scores become r·P + α·r.
        using var filter = GraphFilterRetriever.Build(Toy, 3, lowPassRank: 3, lowPassWeight: 0.5f);
        Assert.Equal(3, filter.LowPassRank);
        var query = new float[3];
        GraphFilterRetriever.Query(Toy.Of(0), query);
        var ids = new long[3];
        var scores = new float[3];
        filter.Search(query, 3, ids, scores);
        float c = 1f / (2 * MathF.Sqrt(2));
        Assert.Equal(0.5f + c + 0.5f, scores[0], 4);
        Assert.Equal(c, scores[2], 4);
        Assert.Equal(2, ids[2]);
    }

    [Fact]
    public void BatchSearchMatchesSingleSearches()
    {
        using var filter = GraphFilterRetriever.Build(Toy, 3);
        var queries = new float[6];
        GraphFilterRetriever.Query(Toy.Of(0), queries.AsSpan(0, 3));
        GraphFilterRetriever.Query(Toy.Of(1), queries.AsSpan(3, 3));
        var (ids, scores, counts) = (new long[4], new float[4], new int[2]);
        filter.SearchBatch(queries, 2, ids, scores, counts);
        Assert.Equal([2, 2], counts);
        var one = new long[2];
        filter.Search(queries.AsSpan(3, 3), 2, one, new float[2]);
        Assert.Equal(one, ids[2..]);
    }

    [Fact]
    public void ACatalogueTooLargeForMemoryIsRefusedBeforeAllocating()
    {
        var e = Assert.Throws<InsufficientMemoryException>(() => GraphFilterRetriever.Build(Toy, 3, maxBytes: 16));
        Assert.Throws<ArgumentOutOfRangeException>(() => GraphFilterRetriever.Build(Toy, 3, lowPassRank: 4));
        Assert.Contains("3 items", e.Message);
        Assert.Throws<ArgumentException>(() => GraphFilterRetriever.Build(Toy, 3).Search(new float[2], 1, new long[1], new float[1]));
    }
}
