using Orleans.TestingHost;
using VectorRecall.Serving;

namespace VectorRecall.Tests;

/// <summary>
/// A test class over three in-process silos serving a shard set it writes first: the small model's flat bundle (or its
/// HNSW bundle) split into <paramref name="shards"/> shards, <paramref name="replicas"/> replicas each.
/// </summary>
public abstract class ShardClusterFixture(int shards, bool hnsw = false, int replicas = 1) : IAsyncLifetime
{
    protected static TrainedSmallModel Model => TrainedSmallModel.Shared;
    private protected TempDir Dir { get; } = new();
    protected InProcessTestCluster Cluster { get; private set; } = null!;
    protected ShardSet Set { get; private set; } = null!;

    /// <summary>Changes the written set before the silos start (a test of damaged files).</summary>
    protected virtual void BeforeStart(ShardSet set) { }

    public async Task InitializeAsync()
    {
        string bundle = hnsw ? Model.BundlePath : Model.SaveFlatBundle(Dir.File("flat-bundle"));
        Set = ShardSet.Split(bundle, shards, Dir.File("shards"));
        BeforeStart(Set);
        Cluster = await ShardClusters.StartAsync(Set, replicas: replicas);
    }

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
        Dir.Dispose();
    }
}
