using Orleans.TestingHost;
using VectorRecall.Cluster;
using VectorRecall.Serving;

namespace VectorRecall.Tests;

/// <summary>In-process Orleans silos (Orleans' TestingHost) hosting the shard grains of one shard set.</summary>
internal static class ShardClusters
{
    public static async Task<InProcessTestCluster> StartAsync(ShardSet set, short silos = 3)
    {
        var builder = new InProcessTestClusterBuilder(silos);
        string directory = set.Directory;
        builder.ConfigureSilo((_, silo) => silo.AddShardSet(directory));
        var cluster = builder.Build();
        await cluster.DeployAsync();
        // Placement reads the placing silo's view of the membership: wait until every silo sees every other one.
        await cluster.WaitForLivenessToStabilizeAsync();
        return cluster;
    }
}
