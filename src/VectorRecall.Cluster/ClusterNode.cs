using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using VectorRecall.Serving;
using VectorRecall.Server;

namespace VectorRecall.Cluster;

/// <summary>
/// Builds one cluster node: the recall server's routes (as <c>vrecall serve</c>) over the shard set's bundle, its users
/// encoded here and searched across all shards (<see cref="ShardedRetriever"/>), and an Orleans silo in the same process
/// hosting this node's share of the shard replicas and shard writers; <c>PUT /v1/items</c> and <c>DELETE /v1/items/{id}</c>
/// change items live (<see cref="ShardedUpdates"/>).
/// </summary>
public static class ClusterNode
{
    /// <remarks>
    /// The shard set is opened when the bundle is loaded, not here: with <see cref="ServerOptions.Watch"/> a node started
    /// before the set is published waits for it (not ready), as <c>vrecall serve</c> waits for a bundle.
    /// </remarks>
    public static (WebApplication App, RecallServer Server) Build(ServerOptions server, ClusterNodeOptions cluster, Action<ILoggingBuilder>? logging = null)
    {
        cluster.Validate();
        string store = Path.GetFullPath(cluster.ShardSetPath);
        // Orleans reports every membership change and connection at Information; keep its warnings, as for ASP.NET Core.
        // Its placement retries (logged by Polly) write a stack trace per attempt while a dead node is being declared dead,
        // which Orleans' own membership warnings already say once.
        return RecallServer.Build(server with { BundlePath = Path.Combine(store, ShardSet.BundleFolder) }, l =>
        {
            l.AddFilter("Orleans", LogLevel.Warning);
            l.AddFilter("Polly", LogLevel.None);
            logging?.Invoke(l);
        }, new ServerHosting
        {
            ConfigureHost = builder => builder.UseOrleans(silo =>
            {
                if (cluster.Redis is { } redis && cluster.Kubernetes)
                {
                    // The pod gives the address and the cluster's ids; the ports stay ours.
                    silo.UseRedisClustering(redis);
                    silo.UseKubernetesHosting();
                    silo.Configure<EndpointOptions>(o => (o.SiloPort, o.GatewayPort) = (cluster.SiloPort, cluster.GatewayPort));
                }
                else if (cluster.Redis is { } redisOnly)
                {
                    silo.UseRedisClustering(redisOnly);
                    silo.ConfigureEndpoints(cluster.SiloPort, cluster.GatewayPort);
                    silo.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (cluster.ClusterId, cluster.ServiceId));
                }
                else
                {
                    var primary = new IPEndPoint(IPAddress.Loopback, cluster.PrimarySiloPort == 0 ? cluster.SiloPort : cluster.PrimarySiloPort);
                    silo.UseLocalhostClustering(cluster.SiloPort, cluster.GatewayPort, primary, cluster.ServiceId, cluster.ClusterId);
                }
                silo.AddShardSet(store, cluster.Replicas);
            }),
            SearchWith = services => new ShardedRetriever(new ShardedSearch(services.GetRequiredService<IGrainFactory>(), ShardSet.Open(store))
            {
                Replicas = cluster.Replicas,
                ReplicaDeadline = cluster.ReplicaDeadline,
            }),
            WriteItemsWith = services => new ShardedUpdates(services.GetRequiredService<IGrainFactory>(), ShardSet.Open(store)) { Replicas = cluster.Replicas },
        });
    }
}
