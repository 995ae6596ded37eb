using VectorRecall.Numerics;

namespace VectorRecall.Cluster;

/// <summary>
/// One node of a recall cluster: an Orleans silo hosting shard replicas beside the HTTP front end. Membership is kept
/// in Redis (<see cref="Redis"/>), or for a cluster on one machine by localhost clustering, where every node names the
/// first node's silo port (<see cref="PrimarySiloPort"/>; 0 on the first node itself).
/// </summary>
public sealed record ClusterNodeOptions
{
    /// <summary>The shard set folder every node sees (written by <c>vrecall shard</c>).</summary>
    public required string ShardSetPath { get; init; }

    /// <summary>Replicas of each shard (on distinct silos while there are at least this many).</summary>
    public int Replicas { get; init; } = 1;

    /// <summary>How long one replica may take before the next is asked.</summary>
    public TimeSpan ReplicaDeadline { get; init; } = TimeSpan.FromSeconds(2);

    public string ClusterId { get; init; } = "vrecall";
    public string ServiceId { get; init; } = "vrecall";

    /// <summary>Port silos talk to each other on.</summary>
    public int SiloPort { get; init; } = 11111;

    /// <summary>Port Orleans clients connect to.</summary>
    public int GatewayPort { get; init; } = 30000;

    /// <summary>Redis holding the membership table ("host:port" or a StackExchange.Redis configuration string); null: localhost clustering.</summary>
    public string? Redis { get; init; }

    /// <summary>Localhost clustering: the first node's silo port, which the others join (0: this node is the first).</summary>
    public int PrimarySiloPort { get; init; }

    /// <summary>
    /// Orleans' Kubernetes hosting: the silo takes its name and address from its pod (POD_NAME, POD_NAMESPACE, POD_IP) and
    /// its cluster and service ids from ORLEANS_CLUSTER_ID / ORLEANS_SERVICE_ID (or the pod's orleans/clusterId and
    /// orleans/serviceId labels), and silos whose pods are gone are declared dead at once instead of after missed probes.
    /// Membership still lives in <see cref="Redis"/>; the pod's service account must be able to watch and delete pods.
    /// </summary>
    public bool Kubernetes { get; init; }

    public void Validate()
    {
        Settings.Check(!string.IsNullOrWhiteSpace(ShardSetPath), nameof(ShardSetPath), "must name the shard set folder");
        Settings.Check(Replicas >= 1, nameof(Replicas), $"must be at least 1, got {Replicas}");
        Settings.Check(ReplicaDeadline > TimeSpan.Zero, nameof(ReplicaDeadline), $"must be positive, got {ReplicaDeadline}");
        Settings.Check(SiloPort is > 0 and < 65536, nameof(SiloPort), $"must be a port (1 to 65535), got {SiloPort}");
        Settings.Check(GatewayPort is > 0 and < 65536 && GatewayPort != SiloPort, nameof(GatewayPort), $"must be a port other than the silo port, got {GatewayPort}");
        Settings.Check(PrimarySiloPort is >= 0 and < 65536, nameof(PrimarySiloPort), $"must be 0 or a port, got {PrimarySiloPort}");
        Settings.Check(Redis is null || PrimarySiloPort == 0, nameof(PrimarySiloPort), "is for localhost clustering; with Redis every node finds the others there");
        Settings.Check(!Kubernetes || Redis is not null, nameof(Kubernetes), "hosting still keeps the membership in Redis: give Redis too");
        if (Kubernetes && MissingPodVariables(Environment.GetEnvironmentVariable) is { Length: > 0 } missing)
            Settings.Check(false, nameof(Kubernetes), $"hosting takes the pod's identity and the API server's address from {string.Join(", ", PodVariables)}; {string.Join(", ", missing)} is not set (Kubernetes sets the last two in every pod, deploy/k8s/cluster the others; outside Kubernetes leave it off)");
    }

    /// <summary>The environment variables Orleans' Kubernetes hosting reads the pod's identity and the API server's address from.</summary>
    internal static readonly string[] PodVariables = ["POD_NAME", "POD_NAMESPACE", "POD_IP", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"];

    /// <summary>Which of <see cref="PodVariables"/> <paramref name="environment"/> lacks.</summary>
    internal static string[] MissingPodVariables(Func<string, string?> environment) => [.. PodVariables.Where(v => string.IsNullOrEmpty(environment(v)))];
}
