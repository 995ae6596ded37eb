using System.Globalization;
using VectorRecall.Cluster;
using VectorRecall.Indexing;
using VectorRecall.Retrieval;
using VectorRecall.Serving;
using VectorRecall.Towers;

namespace VectorRecall.Tests.Cluster;

/// <summary>
/// A cluster whose shard 2 cannot load (its file is damaged): recall through the service fails as unavailable, or, asked
/// for a partial answer, gives exactly the best items of the other shards and names shard 2.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class PartialClusterTests() : ShardClusterFixture(3)
{
    /// <summary>Shard 2's file damaged: its grains cannot load it.</summary>
    protected override void BeforeStart(ShardSet set)
    {
        string damaged = Path.Combine(set.Directory, ShardSet.ShardFileName(2));
        var bytes = File.ReadAllBytes(damaged);
        bytes[^5] ^= 0xFF;
        File.WriteAllBytes(damaged, bytes);
    }

    [Fact]
    public async Task AnswersNameTheShardThatCannotLoadOrFail()
    {
        var router = new ShardedSearch(Cluster.Client, Set) { ReplicaDeadline = TimeSpan.FromMilliseconds(500) };
        using var service = RecallService.FromBundle(Set.BundlePath, new ShardedRetriever(router));
        var query = new UserQuery(4);
        var rows = new int[20];
        var scores = new float[20];
        await Assert.ThrowsAsync<ShardUnavailableException>(async () => await service.RecallAsync(query, 20, rows, scores));

        var partial = new PartialAnswer();
        int found = await service.RecallAsync(query, 20, rows, scores, partial: partial);
        Assert.Equal([2], partial.Missing);
        Assert.True(partial.IsPartial);
        // Exactly the exact top 20 of the items the other shards hold.
        var elsewhere = Enumerable.Range(0, Model.ItemIds.Length)
            .Where(r => ShardSet.OwnerOf(Model.ItemIds[r].ToString(CultureInfo.InvariantCulture), Set.Shards) == 2).ToArray();
        using var exact = TowerEncoder.BuildIndex(Model.ItemVectors, "Flat");
        var ids = new long[20];
        var expected = new float[20];
        int n = exact.Search(service.EncodeUsers([4]).Row(0), 20, ids, expected, SearchOptions.Of(ExcludedIds.Of(elsewhere), 0));
        Assert.Equal(n, found);
        Assert.Equal(ids.Select(i => (int)i), rows);
        // (scores to float rounding: the service encodes one user, the check a batch of one, which may sum in another order)
        for (int i = 0; i < n; i++) Assert.Equal(expected[i], scores[i], 5);
    }
}
