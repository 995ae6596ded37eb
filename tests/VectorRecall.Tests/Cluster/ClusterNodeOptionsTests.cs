using VectorRecall.Cluster;

namespace VectorRecall.Tests.Cluster;

/// <summary>A node's settings are checked before anything starts, each refusal naming the setting.</summary>
public class ClusterNodeOptionsTests
{
    private static readonly ClusterNodeOptions Good = new() { ShardSetPath = "shards" };

    [Fact]
    public void SaneSettingsPass()
    {
        Good.Validate();
        (Good with { PrimarySiloPort = 11111, SiloPort = 11112, GatewayPort = 30001 }).Validate();
    }

    [Fact]
    public void KubernetesHostingNeedsThePodsIdentity()
    {
        // Outside a pod (this test's process), --kubernetes is refused with one line naming what is missing, not a stack trace.
        if (Environment.GetEnvironmentVariable("POD_NAME") is null)
            Assert.Contains("POD_NAME", Assert.ThrowsAny<ArgumentException>((Good with { Redis = "127.0.0.1:6379", Kubernetes = true }).Validate).Message);
        var pod = new Dictionary<string, string>
        {
            ["POD_NAME"] = "vrecall-cluster-0", ["POD_NAMESPACE"] = "default", ["POD_IP"] = "10.1.2.3", ["KUBERNETES_SERVICE_HOST"] = "10.0.0.1", ["KUBERNETES_SERVICE_PORT"] = "443",
        };
        Assert.Empty(ClusterNodeOptions.MissingPodVariables(v => pod.GetValueOrDefault(v)));
        pod.Remove("POD_IP");
        Assert.Equal(["POD_IP"], ClusterNodeOptions.MissingPodVariables(v => pod.GetValueOrDefault(v)));
    }

    [Theory]
    [InlineData("Kubernetes")]
    [InlineData("Replicas")]
    [InlineData("GatewayPort")]
    [InlineData("PrimarySiloPort")]
    [InlineData("ShardSetPath")]
    public void EachBadSettingIsNamed(string setting)
    {
        var bad = setting switch
        {
            "Kubernetes" => Good with { Kubernetes = true },   // the hosting keeps membership in Redis, which is missing
            "Replicas" => Good with { Replicas = 0 },
            "GatewayPort" => Good with { GatewayPort = Good.SiloPort },
            "PrimarySiloPort" => Good with { Redis = "127.0.0.1:6379", PrimarySiloPort = 11111 },
            _ => Good with { ShardSetPath = " " },
        };
        var e = Assert.ThrowsAny<ArgumentException>(bad.Validate);
        Assert.Contains(setting, e.Message);
    }
}
