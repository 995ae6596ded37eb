namespace VectorRecall.Indexing;

/// <summary>How vectors are compared.</summary>
public enum Metric
{
    /// <summary>Inner product; larger is closer. Scores are inner products.</summary>
    InnerProduct,
    /// <summary>Cosine similarity: vectors and queries are L2-normalised on the way in, then compared by inner product.</summary>
    Cosine,
    /// <summary>Squared Euclidean distance; smaller is closer. Scores are squared distances.</summary>
    L2,
}

public static class MetricExtensions
{
    /// <summary>Whether a larger score means closer (inner product, cosine) or a smaller one (L2).</summary>
    public static bool HigherIsCloser(this Metric metric) => metric != Metric.L2;

    public static string ShortName(this Metric metric) => metric switch
    {
        Metric.InnerProduct => "ip",
        Metric.Cosine => "cosine",
        _ => "l2",
    };

    public static Metric Parse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "ip" or "innerproduct" or "inner_product" or "dot" => Metric.InnerProduct,
        "cos" or "cosine" or "angular" => Metric.Cosine,
        "l2" or "euclidean" => Metric.L2,
        _ => throw new ArgumentException($"unknown metric '{text}': expected ip, cosine or l2"),
    };
}
