using System.Globalization;
using VectorRecall.IO;

namespace VectorRecall.Indexing;

/// <summary>
/// Builds an index from a short description, as faiss's <c>index_factory</c> does:
/// <c>"Flat"</c>, or <c>"HNSW"</c> / <c>"HNSW32"</c> (M = 32) followed by optional
/// <c>,FP16</c>, <c>,SQ8</c> or <c>,SQ4</c> (the walk reads half floats or 8- or 4-bit codes; <c>,refine=2</c>: how many times k candidates exact vectors re-rank; <c>refine=0</c> keeps no exact vectors;
/// <c>,refine_storage=FP16</c> keeps them in half precision beside 8- or 4-bit codes),
/// or <c>,RaBitQ</c> (1-bit codes of each node's neighbours beside its links, expanded nodes scored by exact vectors),
/// <c>,reuse</c> (adds take removed items' slots),
/// <c>,efc=200</c>, <c>,efs=100</c>, <c>,seed=7</c>, <c>,threads=2</c>. The metric is given apart.
/// </summary>
public static class IndexFactory
{
    public static IVectorIndex Create(string description, int dimension, Metric metric)
    {
        var parts = description.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) throw new ArgumentException("empty index description: expected \"Flat\" or \"HNSW[M][,efc=..][,efs=..]\"");
        string head = parts[0];
        if (head.Equals("Flat", StringComparison.OrdinalIgnoreCase))
        {
            if (parts.Length > 1) throw new ArgumentException($"index description '{description}': Flat takes no options");
            return new FlatIndex(dimension, metric);
        }
        if (!head.StartsWith("HNSW", StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"unknown index type '{head}' in '{description}': expected Flat or HNSW");
        var options = new HnswOptions();
        if (head.Length > 4)
            options = options with { M = ParseInt(head[4..], "M", description) };
        foreach (var part in parts.Skip(1))
        {
            if (Enum.TryParse<VectorStorage>(part, ignoreCase: true, out var storage) && !int.TryParse(part, out _))
            {
                options = options with { Storage = storage };
                continue;
            }
            if (part.Equals("reuse", StringComparison.OrdinalIgnoreCase))
            {
                options = options with { ReuseRemovedSlots = true };
                continue;
            }
            var kv = part.Split('=', 2, StringSplitOptions.TrimEntries);
            if (kv.Length != 2) throw new ArgumentException($"option '{part}' in '{description}' is neither a storage (FP16, SQ8, SQ4, RaBitQ, Float32), reuse, nor key=value");
            options = kv[0].ToLowerInvariant() switch
            {
                "efc" or "ef_construction" => options with { EfConstruction = ParseInt(kv[1], kv[0], description) },
                "efs" or "ef" or "ef_search" => options with { EfSearch = ParseInt(kv[1], kv[0], description) },
                "seed" => options with { Seed = (ulong)ParseInt(kv[1], kv[0], description) },
                "threads" => options with { Threads = ParseInt(kv[1], kv[0], description, least: 0) },
                "refine" => options with { Refine = ParseInt(kv[1], kv[0], description, least: 0) },
                "refine_storage" => options with { RefineStorage = ParseRefineStorage(kv[1], description) },
                _ => throw new ArgumentException($"unknown HNSW option '{kv[0]}' in '{description}' (expected FP16, SQ8, SQ4, RaBitQ, Float32, reuse, efc, efs, seed, threads, refine, refine_storage)"),
            };
        }
        return new HnswIndex(dimension, metric, options);
    }

    /// <summary>Loads any index file, whichever kind it holds.</summary>
    public static IVectorIndex Load(string path) => IndexFile.ReadKind(path) switch
    {
        "Flat" => FlatIndex.Load(path),
        "HNSW" => HnswIndex.Load(path),
        var kind => throw new FileFormatException(path, $"unknown index kind '{kind}'"),
    };

    private static VectorStorage ParseRefineStorage(string text, string description) =>
        text.Equals("FP16", StringComparison.OrdinalIgnoreCase) ? VectorStorage.FP16
        : text.Equals("Float32", StringComparison.OrdinalIgnoreCase) ? VectorStorage.Float32
        : throw new ArgumentException($"'{text}' is not a refine storage in '{description}' (expected Float32 or FP16)");

    private static int ParseInt(string text, string name, string description, int least = 1) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v >= least
            ? v : throw new ArgumentException($"'{text}' is not an integer of at least {least} for {name} in '{description}'");
}
