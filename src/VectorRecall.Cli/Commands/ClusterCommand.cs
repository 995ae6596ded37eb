using System.CommandLine;
using VectorRecall.Cluster;
using VectorRecall.Server;

namespace VectorRecall.Cli.Commands;

/// <summary>
/// <c>vrecall cluster --bundle-store DIR [--redis HOST:PORT [--kubernetes] | --primary-silo-port P]</c>: one node of a recall cluster — an
/// Orleans silo hosting shard replicas and the HTTP routes of <c>vrecall serve</c>, each query searched across every shard.
/// </summary>
internal static class ClusterCommand
{
    public static Command Create()
    {
        var defaults = new ClusterNodeOptions { ShardSetPath = "shards" };
        var store = new Option<string>("--bundle-store", "--bundle_store") { Description = "the shard set folder every node sees (written by vrecall shard)", Required = true };
        var redis = new Option<string?>("--redis") { Description = "Redis holding the cluster's membership (host:port); without it, localhost clustering for a cluster on one machine" };
        var primary = new Option<int>("--primary-silo-port", "--primary_silo_port") { Description = "localhost clustering: the first node's --silo-port, which this node joins (0: this node is the first)", DefaultValueFactory = _ => defaults.PrimarySiloPort };
        var siloPort = new Option<int>("--silo-port", "--silo_port") { Description = "port the silos talk to each other on", DefaultValueFactory = _ => defaults.SiloPort };
        var gatewayPort = new Option<int>("--gateway-port", "--gateway_port") { Description = "port Orleans clients connect to", DefaultValueFactory = _ => defaults.GatewayPort };
        var replicas = new Option<int>("--replicas") { Description = "replicas of each shard, placed on distinct nodes (the same on every node)", DefaultValueFactory = _ => defaults.Replicas };
        var deadline = new Option<int>("--replica-deadline-ms", "--replica_deadline_ms") { Description = "how long one replica may take before the next is asked", DefaultValueFactory = _ => (int)defaults.ReplicaDeadline.TotalMilliseconds };
        var cluster = new Option<string>("--cluster-id", "--cluster_id") { Description = "the cluster's name (nodes with the same one form a cluster); with --kubernetes it comes from the pod", DefaultValueFactory = _ => defaults.ClusterId };
        var kubernetes = new Option<bool>("--kubernetes") { Description = "Orleans' Kubernetes hosting: name, address and cluster id from the pod (POD_NAME, POD_NAMESPACE, POD_IP, ORLEANS_CLUSTER_ID), dead pods' silos declared dead at once; needs --redis" };
        var flags = new ServerFlags();
        var command = new Command("cluster", "Run one node of a recall cluster: an Orleans silo serving shard replicas of a shard set, and the HTTP routes of vrecall serve answering from all shards. With VRECALL_ADMIN_TOKEN set, PUT /v1/items (a vector, or category, tags and features for the bundle's item tower) and DELETE /v1/items/{id} change items live, and POST /v1/admin/compact folds the changes into the shard files while serving.")
        {
            store, redis, primary, siloPort, gatewayPort, replicas, deadline, cluster, kubernetes,
        };
        foreach (var o in flags.All) command.Add(o);
        command.SetAction((r, _) => CliErrors.Guard(() =>
        {
            var node = new ClusterNodeOptions
            {
                ShardSetPath = r.GetValue(store)!,
                Redis = r.GetValue(redis),
                PrimarySiloPort = r.GetValue(primary),
                SiloPort = r.GetValue(siloPort),
                GatewayPort = r.GetValue(gatewayPort),
                Replicas = r.GetValue(replicas),
                ReplicaDeadline = TimeSpan.FromMilliseconds(r.GetValue(deadline)),
                ClusterId = r.GetValue(cluster)!,
                ServiceId = r.GetValue(cluster)!,
                Kubernetes = r.GetValue(kubernetes),
            };
            node.Validate();
            string bundle = Path.Combine(node.ShardSetPath, VectorRecall.Serving.ShardSet.BundleFolder);
            return ServeCommand.RunAsync(flags.ToOptions(r, bundle), options => ClusterNode.Build(options, node));
        }));
        return command;
    }
}
