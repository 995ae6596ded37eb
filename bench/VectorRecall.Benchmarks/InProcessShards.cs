using Orleans.TestingHost;
using VectorRecall.Cluster;
using VectorRecall.Serving;

namespace VectorRecall.Benchmarks;

/// <summary>Three in-process Orleans silos (Orleans' TestingHost) hosting a shard set's grains, for the cluster benchmarks.</summary>
internal static class InProcessShards
{
    public static InProcessTestCluster Start(ShardSet set, int replicas = 1)
    {
        var builder = new InProcessTestClusterBuilder(3);
        // The test host would write a log file per silo into the working folder.
        builder.Options.ConfigureFileLogging = false;
        builder.ConfigureSilo((_, silo) => silo.AddShardSet(set.Directory, replicas));
        var cluster = builder.Build();
        cluster.DeployAsync().GetAwaiter().GetResult();
        return cluster;
    }
}
