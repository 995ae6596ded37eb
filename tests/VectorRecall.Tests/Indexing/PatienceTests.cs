using VectorRecall.Indexing;

namespace VectorRecall.Tests.Indexing;

/// <summary>
/// <see cref="SearchOptions.Patience"/>: an HNSW walk that stops once enough expansions in a row have not changed its best k.
/// </summary>
public class PatienceTests
{
    private const int N = 10000, Dim = 32, Queries = 200, K = 10;

    private static (HnswIndex Index, FlatIndex Flat, float[] Queries) Build(VectorStorage storage)
    {
        var data = VectorSets.Clustered(N, Dim, 100, 31);
        var index = new HnswIndex(Dim, Metric.InnerProduct, new HnswOptions { M = 12, EfConstruction = 100, Storage = storage });
        index.Add(VectorSets.Ids(N), data);
        var flat = new FlatIndex(Dim, Metric.InnerProduct);
        flat.Add(VectorSets.Ids(N), data);
        return (index, flat, VectorSets.Clustered(Queries, Dim, 100, 32));
    }

    private static double Recall(HnswIndex index, FlatIndex flat, float[] queries, SearchOptions options, IIdFilter? filter = null)
    {
        int hits = 0;
        var a = new long[K]; var e = new long[K]; var s = new float[K];
        for (int q = 0; q < Queries; q++)
        {
            var query = queries.AsSpan(q * Dim, Dim);
            Assert.Equal(K, index.Search(query, K, a, s, options with { Filter = filter }));
            if (filter is not null) Assert.All(a, id => Assert.True(filter.Allows(id), $"id {id} is filtered out"));
            flat.Search(query, K, e, s, new SearchOptions { Filter = filter });
            hits += a.Intersect(e).Count();
        }
        return hits / (double)(Queries * K);
    }

    [Theory]
    [InlineData(VectorStorage.Float32)]
    [InlineData(VectorStorage.SQ8)]
    public void UnboundedPatienceChangesNothingAndLessPatienceCostsRecallGradually(VectorStorage storage)
    {
        var (index, flat, queries) = Build(storage);
        using var _ = index;
        var a = new long[K]; var sa = new float[K]; var b = new long[K]; var sb = new float[K];
        // The bookkeeping alone leaves the walk as it was: the same ids and scores as a search without patience.
        for (int q = 0; q < Queries; q++)
        {
            var query = queries.AsSpan(q * Dim, Dim);
            index.Search(query, K, a, sa, new SearchOptions { Ef = 200 });
            index.Search(query, K, b, sb, new SearchOptions { Ef = 200, Patience = int.MaxValue });
            Assert.Equal(a, b);
            Assert.Equal(sa, sb);
        }
        double full = Recall(index, flat, queries, new SearchOptions { Ef = 200 });
        double patient = Recall(index, flat, queries, new SearchOptions { Ef = 200, Patience = 50 });
        double hasty = Recall(index, flat, queries, new SearchOptions { Ef = 200, Patience = 2 });
        Assert.True(full >= 0.95, $"recall@10 without patience {full:F3}");
        Assert.True(patient >= full - 0.03, $"patience 50: {patient:F3} against {full:F3}");
        // Two quiet expansions stop the walk long before ef 200 is spent: measurably less recall, still a sensible answer.
        Assert.True(hasty < full && hasty <= patient && hasty >= 0.3, $"patience 2: {hasty:F3}, patience 50: {patient:F3}, none: {full:F3}");
    }

    [Fact]
    public void AFilteredSearchWithPatienceStillReturnsKAllowedItems()
    {
        var (index, flat, queries) = Build(VectorStorage.SQ8);
        using var _ = index;
        var excluded = new ExcludedIds();
        foreach (long id in VectorSets.Ids(N).Where((_, i) => i % 3 == 0)) excluded.Add(id);
        double recall = Recall(index, flat, queries, new SearchOptions { Ef = 200, Patience = 30 }, excluded);
        Assert.True(recall >= 0.85, $"recall@10 with a third filtered out {recall:F3}");
    }

    [Fact]
    public void NegativePatienceIsRefused()
    {
        var (index, _, queries) = Build(VectorStorage.Float32);
        using var __ = index;
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => index.Search(queries.AsSpan(0, Dim), K, new long[K], new float[K], new SearchOptions { Patience = -1 }));
        Assert.Contains("patience must be at least 0", ex.Message);
    }
}
