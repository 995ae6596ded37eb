using VectorRecall.Cluster;
using VectorRecall.Indexing;
using VectorRecall.Numerics;
using VectorRecall.Serving;
using VectorRecall.Towers;

namespace VectorRecall.Tests.Cluster;

/// <summary>Three in-process silos serving a bundle split into six shards: flat shards give exactly the single index's exact top-K.</summary>
[Collection(ClusterCollection.Name)]
public sealed class ShardedRecallTests() : ShardClusterFixture(6)
{
    /// <summary>A router whose deadline no busy test machine reaches: these tests check answers, not failover.</summary>
    private ShardedSearch Router() => new(Cluster.Client, Set) { ReplicaDeadline = TimeSpan.FromSeconds(30) };

    [Theory]
    [InlineData(10, false)]
    [InlineData(500, false)]
    [InlineData(10, true)]
    [InlineData(500, true)]
    public async Task FlatShardsGiveExactlyTheSingleIndexsTopK(int k, bool excludeSeen)
    {
        var router = Router();
        using var service = RecallService.FromBundle(Set.BundlePath);
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
    public async Task ReplicasDeactivatedWhileSearchesRunAnswerEverySearch()
    {
        // Searches run on the thread pool beside the grain's turns: deactivating (which frees the index) must wait for them.
        var router = Router();
        var query = Model.ItemVectors.Row(11).ToArray();
        var expected = await router.SearchAsync(query, 50);
        using var stop = new CancellationTokenSource();
        var clients = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            int answered = 0;
            for (; !stop.IsCancellationRequested; answered++)
                Assert.Equal(expected.Rows, (await router.SearchAsync(query, 50)).Rows);
            return answered;
        })).ToArray();
        for (int round = 0; round < 10; round++)
        {
            await Task.Delay(50);
            for (int s = 0; s < Set.Shards; s++)
                await Cluster.DeactivateAsync(Cluster.Client.GetGrain<IShardGrain>(s, ShardedSearch.ReplicaName(0)));
        }
        stop.Cancel();
        Assert.All(await Task.WhenAll(clients), answered => Assert.True(answered > 0));
        Assert.Equal(0, router.Counts.Failovers);
    }

    [Fact]
    public async Task BadQueriesReachTheCallerAsArgumentErrors()
    {
        var router = Router();
        await Assert.ThrowsAsync<ArgumentException>(() => router.SearchAsync(new float[3], 10));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => router.SearchAsync(new float[Model.ItemVectors.Cols], 0));
    }

    [Fact]
    public async Task AShardHoldingTheWholeTopKIsAskedAgainAndTheAnswerStaysExact()
    {
        // Every item outside shard 0 excluded: shard 0 holds all of the top k, more than its first share.
        var router = Router();
        using var exact = TowerEncoder.BuildIndex(Model.ItemVectors, "Flat");
        var elsewhere = Enumerable.Range(0, Model.ItemIds.Length)
            .Where(r => ShardSet.OwnerOf(Model.ItemIds[r].ToString(System.Globalization.CultureInfo.InvariantCulture), Set.Shards) != 0).ToArray();
        const int k = 200;
        var query = Model.ItemVectors.Row(3).ToArray();
        var ids = new long[k];
        var scores = new float[k];
        var merged = await router.SearchAsync(query, k, excludedRows: elsewhere);
        int n = exact.Search(query, k, ids, scores, SearchOptions.Of(ExcludedIds.Of(elsewhere), 0));
        Assert.Equal(k, n);
        Assert.Equal(ids, merged.Rows);
        Assert.Equal(scores, merged.Scores);
        Assert.Equal((1L, 1L, 0L), router.Counts);
    }

    [Fact]
    public void ShardLimitsFollowThePoissonBound()
    {
        Assert.Equal(500, ShardedSearch.ShardLimit(500, 1));
        int six = ShardedSearch.ShardLimit(500, 6);
        Assert.InRange(six, 100, 125);   // λ = 83.3: about λ + 3.1·√λ
        Assert.InRange(ShardedSearch.ShardLimit(10, 6), 5, 8);
        Assert.Equal(1, ShardedSearch.ShardLimit(1, 6));
        Assert.InRange(ShardedSearch.ShardLimit(100_000, 10), 10_300, 10_400);
        Assert.True(ShardedSearch.ShardLimit(4, 2) <= 4);
    }

    [Fact]
    public void AShardIsAskedAgainOnlyWhenItsWholeAnswerReachedTheTopK()
    {
        var merged = new ShardHits([1, 2, 3], [0.9f, 0.8f, 0.7f]);
        Assert.True(ShardedSearch.MayHoldMore(new ShardHits([1, 3], [0.9f, 0.7f]), 2, merged, 3));
        Assert.False(ShardedSearch.MayHoldMore(new ShardHits([1, 4], [0.9f, 0.6f]), 2, merged, 3));
        Assert.False(ShardedSearch.MayHoldMore(new ShardHits([1], [0.9f]), 2, merged, 3));
        Assert.True(ShardedSearch.MayHoldMore(new ShardHits([1, 2], [0.9f, 0.8f]), 2, new ShardHits([1, 2], [0.9f, 0.8f]), 3));
        Assert.True(ShardedSearch.MayHoldMore(new ShardHits([5, 6], [0.9f, 0.7f]), 2, new ShardHits([1, 2, 6], [0.9f, 0.8f, 0.7f]), 3));
    }

    [Fact]
    public void TheMergeKeepsTheBestAndBreaksTiesByTheLowerRow()
    {
        var merged = ShardedSearch.Merge([new ShardHits([5, 9], [0.9f, 0.5f]), new ShardHits([2, 7], [0.9f, 0.7f]), ShardHits.Empty], 3);
        Assert.Equal([2L, 5L, 7L], merged.Rows);
        Assert.Equal([0.9f, 0.9f, 0.7f], merged.Scores);
        Assert.Equal([4L, 3L, 1L, 2L], ShardedSearch.Merge([new ShardHits([1, 2], [1f, 0f]), new ShardHits([4, 3], [3f, 2f])], 10).Rows);
    }
}
