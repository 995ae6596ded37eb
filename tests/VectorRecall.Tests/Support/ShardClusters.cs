using Orleans.TestingHost;
using VectorRecall.Cluster;
using VectorRecall.Serving;

namespace VectorRecall.Tests;

/// <summary>In-process Orleans silos (Orleans' TestingHost) hosting the shard grains of one shard set.</summary>
internal static class ShardClusters
{
    public static async Task<InProcessTestCluster> StartAsync(ShardSet set, short silos = 3, int replicas = 1)
    {
        var builder = new InProcessTestClusterBuilder(silos);
        // The test host would write a log file per silo into the working folder.
        builder.Options.ConfigureFileLogging = false;
        string directory = set.Directory;
        builder.ConfigureSilo((_, silo) => silo.AddShardSet(directory, replicas));
        var cluster = builder.Build();
        await cluster.DeployAsync();
        // Placement reads the placing silo's view of the membership: wait until every silo sees every other one.
        await cluster.WaitForLivenessToStabilizeAsync();
        return cluster;
    }
}
