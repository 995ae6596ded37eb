using System.Text;

namespace VectorRecall.Server;

/// <summary>A part of the served bundle (a shard cluster's retriever) with figures of its own for <c>/metrics</c>.</summary>
public interface IMetricsSource
{
    /// <summary>Appends its series in the Prometheus text format (HELP and TYPE lines included).</summary>
    void AppendMetrics(StringBuilder prometheus);
}
