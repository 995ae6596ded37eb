using Orleans.TestingHost;
using VectorRecall.Cluster;
using VectorRecall.Indexing;
using VectorRecall.Numerics;
using VectorRecall.Serving;
using VectorRecall.Towers;

namespace VectorRecall.Tests.Cluster;

/// <summary>Three in-process silos serving a bundle split into six shards: flat shards give exactly the single index's exact top-K.</summary>
public sealed class ShardedRecallTests : IAsyncLifetime
{
    private readonly TempDir _dir = new();
    private InProcessTestCluster _cluster = null!;
    private static TrainedSmallModel Model => TrainedSmallModel.Shared;
    private ShardSet _set = null!;

    public async Task InitializeAsync()
    {
        string bundle = _dir.File("flat-bundle");
        using (var flat = TowerEncoder.BuildIndex(Model.ItemVectors, "Flat"))
            ServingBundle.Save(bundle, Model.Model, flat, Model.ItemVectors, Model.ItemIds, Model.Data.UserFeatures, Model.Known, Model.Known);
        _set = ShardSet.Split(bundle, 6, _dir.File("shards"));
        var builder = new InProcessTestClusterBuilder(3);
        string directory = _set.Directory;
        builder.ConfigureSilo((_, silo) => silo.AddShardSet(directory));
        _cluster = builder.Build();
        await _cluster.DeployAsync();
    }

    public async Task DisposeAsync()
    {
        await _cluster.DisposeAsync();
        _dir.Dispose();
    }

    [Theory]
    [InlineData(10, false)]
    [InlineData(500, false)]
    [InlineData(10, true)]
    [InlineData(500, true)]
    public async Task FlatShardsGiveExactlyTheSingleIndexsTopK(int k, bool excludeSeen)
    {
        var router = new ShardedSearch(_cluster.Client, _set);
        using var service = RecallService.FromBundle(_set.BundlePath);
        using var exact = TowerEncoder.BuildIndex(Model.ItemVectors, "Flat");
        var users = Enumerable.Range(0, 200).Select(u => (long)u).ToArray();
        var vectors = service.EncodeUsers(users);
        var ids = new long[k];
        var scores = new float[k];
        for (int u = 0; u < users.Length; u++)
        {
            var query = vectors.Row(u).ToArray();
            var seen = excludeSeen ? Model.Known.Of(u).ToArray() : null;
            var merged = await router.SearchAsync(query, k, excludedRows: seen);
            int n = exact.Search(query, k, ids, scores, SearchOptions.Of(seen is null ? null : ExcludedIds.Of(seen), 0));
            Assert.Equal(ids[..n], merged.Rows);
            Assert.Equal(scores[..n], merged.Scores);
        }
    }

    [Fact]
    public async Task BadQueriesReachTheCallerAsArgumentErrors()
    {
        var router = new ShardedSearch(_cluster.Client, _set);
        await Assert.ThrowsAsync<ArgumentException>(() => router.SearchAsync(new float[3], 10));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => router.SearchAsync(new float[Model.ItemVectors.Cols], 0));
    }

    [Fact]
    public void TheMergeKeepsTheBestAndBreaksTiesByTheLowerRow()
    {
        var merged = ShardedSearch.Merge([new ShardHits([5, 9], [0.9f, 0.5f]), new ShardHits([2, 7], [0.9f, 0.7f]), ShardHits.Empty], 3);
        Assert.Equal([2L, 5L, 7L], merged.Rows);
        Assert.Equal([0.9f, 0.9f, 0.7f], merged.Scores);
        Assert.Equal(4, ShardedSearch.Merge([new ShardHits([1, 2], [1f, 0f]), new ShardHits([3, 4], [2f, 3f])], 10).Count);
    }
}
