using VectorRecall.Cluster;
using VectorRecall.Indexing;
using VectorRecall.Serving;
using VectorRecall.Towers;

namespace VectorRecall.Tests.Cluster;

/// <summary>HNSW shards on three silos recall at least what the bundle's single HNSW index recalls at the same search width.</summary>
[Collection(ClusterCollection.Name)]
public sealed class HnswShardRecallTests() : ShardClusterFixture(6, hnsw: true)
{
    [Theory]
    [InlineData(10, 10)]
    [InlineData(50, 50)]
    public async Task ShardsRecallAtLeastTheSingleIndexAtTheSameWidth(int k, int ef)
    {
        using var service = RecallService.FromBundle(Model.BundlePath);
        var single = Assert.IsType<HnswIndex>(service.Index);
        using var exact = TowerEncoder.BuildIndex(Model.ItemVectors, "Flat");
        var router = new ShardedSearch(Cluster.Client, Set) { ReplicaDeadline = TimeSpan.FromSeconds(30) };
        var vectors = service.EncodeUsers([.. Enumerable.Range(0, 200).Select(u => (long)u)]);
        int fromSingle = 0, fromShards = 0;
        var (truth, found, scores) = (new long[k], new long[k], new float[k]);
        for (int u = 0; u < 200; u++)
        {
            var query = vectors.Row(u).ToArray();
            exact.Search(query, k, truth, scores);
            int n = single.Search(query, k, found, scores, SearchOptions.Of(null, ef));
            fromSingle += found[..n].Count(truth.Contains);
            fromShards += (await router.SearchAsync(query, k, ef)).Rows.Count(truth.Contains);
        }
        // Each shard's graph is a sixth of the items, searched as wide: it should miss less. The graphs are built on all
        // cores, so a run's exact counts vary a little; a shortfall of more than 0.5 % of the truth would be a defect.
        Assert.True(fromShards >= fromSingle - 200 * k * 5 / 1000, $"shards found {fromShards} of {200 * k} true neighbours, the single index {fromSingle}");
    }

    [Fact]
    public async Task PatienceReachesEveryShardsWalk()
    {
        // A patience of one expansion stops each shard's walk almost at once: the merged answer must lose recall.
        using var service = RecallService.FromBundle(Model.BundlePath);
        using var exact = TowerEncoder.BuildIndex(Model.ItemVectors, "Flat");
        var router = new ShardedSearch(Cluster.Client, Set) { ReplicaDeadline = TimeSpan.FromSeconds(30) };
        var vectors = service.EncodeUsers([.. Enumerable.Range(0, 100).Select(u => (long)u)]);
        const int k = 50, ef = 400;
        int wide = 0, impatient = 0;
        var (truth, scores) = (new long[k], new float[k]);
        for (int u = 0; u < 100; u++)
        {
            var query = vectors.Row(u).ToArray();
            exact.Search(query, k, truth, scores);
            wide += (await router.SearchAsync(query, k, ef)).Rows.Count(truth.Contains);
            impatient += (await router.SearchAsync(query, k, ef, patience: 1)).Rows.Count(truth.Contains);
        }
        Assert.True(wide > 100 * k * 95 / 100, $"without patience the shards found {wide} of {100 * k}");
        Assert.True(impatient < wide, $"patience 1 found {impatient}, none {wide}: the shards did not get it");
    }
}
