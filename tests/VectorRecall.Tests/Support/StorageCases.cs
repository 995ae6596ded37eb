using VectorRecall.Indexing;

namespace VectorRecall.Tests;

/// <summary>Theory rows over HNSW storage kinds, so that a new kind is tested wherever storage matters.</summary>
public static class StorageCases
{
    public static readonly VectorStorage[] Compact = [VectorStorage.FP16, VectorStorage.SQ8, VectorStorage.SQ4];

    /// <summary>Every storage kind.</summary>
    public static TheoryData<VectorStorage> All() => new(Enum.GetValues<VectorStorage>());

    /// <summary>The compact storage kinds.</summary>
    public static TheoryData<VectorStorage> CompactKinds() => new(Compact);

    /// <summary>Each metric with each storage kind (or only the compact ones).</summary>
    public static TheoryData<Metric, VectorStorage> ByMetric(Metric[] metrics, bool compactOnly)
    {
        var rows = new TheoryData<Metric, VectorStorage>();
        foreach (var metric in metrics)
            foreach (var storage in compactOnly ? Compact : Enum.GetValues<VectorStorage>())
                rows.Add(metric, storage);
        return rows;
    }
}
