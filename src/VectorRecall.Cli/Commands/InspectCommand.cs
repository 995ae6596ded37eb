using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;
using VectorRecall.Indexing;
using VectorRecall.IO;
using VectorRecall.SemanticIds;

namespace VectorRecall.Cli.Commands;

/// <summary>
/// <c>vrecall inspect PATH [--json]</c>: what any file the project reads or writes holds — a bundle folder, a run folder,
/// an array (.npy, .fvecs, .ivecs, .bvecs), weights or a checkpoint (.safetensors), an index or a TDM tree (by their
/// header, whatever their name), a semantic-id file. Each is described once, as a JSON object; the text is drawn from it.
/// </summary>
internal static class InspectCommand
{
    /// <summary>One file's description: a headline for people, the same facts as JSON, and optionally a table of its parts.</summary>
    private sealed record Summary(string Headline, JsonObject Json, Table? Table = null, string[]? Lines = null);

    public static Command Create()
    {
        var file = new Argument<string>("path") { Description = "a bundle or run folder, or a .npy, .safetensors, .fvecs, .ivecs, .bvecs, semantic-id .json, index (.vrix) or TDM tree file" };
        var json = new Option<bool>("--json") { Description = "print the description as one JSON object" };
        var command = new Command("inspect", "Show what a bundle, run folder, array, weights or checkpoint, index, tree or semantic-id file holds.") { file, json };
        command.SetAction((result, token) => CliErrors.Guard(() =>
        {
            var summary = Describe(Path.GetFullPath(result.GetValue(file)!));
            if (result.GetValue(json)) Console.WriteLine(summary.Json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            else
            {
                AnsiConsole.WriteLine(summary.Headline);
                if (summary.Table is not null) AnsiConsole.Write(summary.Table);
                foreach (var line in summary.Lines ?? []) AnsiConsole.WriteLine(line);
            }
            return Task.FromResult(0);
        }));
        return command;
    }

    private static Summary Describe(string path)
    {
        if (Directory.Exists(path))
            return File.Exists(Path.Combine(path, RunLog.MetricsFile)) ? Run(path) : Bundle(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file or folder");
        string ext = Path.GetExtension(path).ToLowerInvariant();
        // The project's own binary files (indexes, trees) say what they are in their header, whatever their name; the header
        // is read once here (a .vrix without one is an error naming the file, any other name falls through to "unknown").
        bool known = ext is ".npy" or ".safetensors" or ".fvecs" or ".ivecs" or ".bvecs" or ".json";
        string? kind = known ? null : ext == ".vrix" ? IndexFile.ReadKind(path) : TryReadKind(path);
        if (kind is not null) return IndexOrTree(path, kind);
        switch (ext)
        {
            case ".npy":
                var a = Npy.Read(path);
                return Array(path, "npy", a.Type.ToString(), a.Shape);
            case ".safetensors":
                return Weights(path);
            case ".fvecs":
                var f = Vecs.ReadFvecs(path);
                return Array(path, "fvecs", "Float32", [f.Rows, f.Cols]);
            case ".ivecs":
                var i = Vecs.ReadIvecs(path);
                return Array(path, "ivecs", "Int32", i.Shape.ToArray());
            case ".bvecs":
                var b = Vecs.ReadBvecs(path);
                return Array(path, "bvecs", "UInt8", [b.Rows, b.Cols]);
            case ".json":
                return SemanticIds(path);
            default:
                throw new ArgumentException($"{path}: unknown file type '{ext}' (expected a bundle or run folder, .npy, .safetensors, .fvecs, .ivecs, .bvecs, a semantic-id .json, an index or a tree file)");
        }
    }

    private static Summary Array(string path, string format, string type, IReadOnlyList<int> shape) =>
        new($"{path}: {type} ({string.Join(", ", shape)})", new JsonObject { ["path"] = path, ["kind"] = format, ["dtype"] = type, ["shape"] = new JsonArray([.. shape.Select(s => (JsonNode)s)]) });

    /// <summary>Weights, or a checkpoint (weights with its training position and configuration in the metadata).</summary>
    private static Summary Weights(string path)
    {
        var (tensors, metadata) = SafeTensors.Read(path);
        var table = new Table().AddColumns("tensor", "dtype", "shape");
        var list = new JsonArray();
        long parameters = 0;
        foreach (var (name, t) in tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            table.AddRow(Markup.Escape(name), t.Type.ToString(), Markup.Escape($"[{string.Join(", ", t.Shape)}]"));
            list.Add(new JsonObject { ["name"] = name, ["dtype"] = t.Type.ToString(), ["shape"] = new JsonArray([.. t.Shape.Select(s => (JsonNode)s)]) });
            parameters += t.Shape.Aggregate(1L, (p, s) => p * s);
        }
        var meta = new JsonObject();
        foreach (var (k, v) in metadata) meta[k] = v;
        return new Summary($"{path}: safetensors, {tensors.Count} tensors, {parameters:N0} values",
            new JsonObject { ["path"] = path, ["kind"] = "safetensors", ["values"] = parameters, ["tensors"] = list, ["metadata"] = meta },
            table, [.. metadata.Select(kv => $"metadata {kv.Key} = {kv.Value}")]);
    }

    /// <summary>A semantic-id file: how many items, levels, distinct ids, and whether its keys are the items' own ids or rows.</summary>
    private static Summary SemanticIds(string path)
    {
        var (ids, raw, levels) = SemanticIdFile.Read(path);
        int largest = raw.Length == 0 ? 1 : raw.Max() + 1;
        var codes = new SemanticCodes(raw, Enumerable.Repeat(largest, levels).ToArray());
        string keys = ids.AllNumeric ? "integer ids" : "text ids";
        return new Summary($"{path}: semantic ids, {ids.Count:N0} items keyed by {keys}, {levels} levels, {codes.DistinctCount:N0} distinct ids (collision rate {codes.CollisionRate:P3})",
            new JsonObject { ["path"] = path, ["kind"] = "semantic_ids", ["items"] = ids.Count, ["levels"] = levels, ["keys"] = ids.AllNumeric ? "integer" : "text", ["distinct"] = codes.DistinctCount, ["collision_rate"] = codes.CollisionRate, ["first_key"] = ids.Count > 0 ? ids[0] : null });
    }

    private static string? TryReadKind(string path)
    {
        try { return IndexFile.ReadKind(path); }
        catch (FileFormatException) { return null; }
    }

    /// <summary>A file in the project's own format: a TDM tree, or an index of any kind.</summary>
    private static Summary IndexOrTree(string path, string kind)
    {
        if (kind == Tdm.ItemTree.FileKind)
        {
            var tree = Tdm.ItemTree.Load(path);
            return new Summary($"{path}: TDM tree, {tree.ItemCount:N0} items, branch {tree.Branch}, depth {tree.Depth}, {tree.NodeCount:N0} nodes with embeddings of dimension {tree.Dimension}",
                new JsonObject { ["path"] = path, ["kind"] = "tdm_tree", ["items"] = tree.ItemCount, ["branch"] = tree.Branch, ["depth"] = tree.Depth, ["nodes"] = tree.NodeCount, ["dimension"] = tree.Dimension });
        }
        using var index = IndexFactory.Load(path);
        var json = new JsonObject { ["path"] = path, ["kind"] = index.GetType().Name, ["vectors"] = index.Count, ["dimension"] = index.Dimension, ["metric"] = index.Metric.ToString() };
        string detail = "";
        if (index is HnswIndex h)
        {
            json["m"] = h.M;
            json["ef_construction"] = h.Options.EfConstruction;
            json["ef_search"] = h.EfSearch;
            json["storage"] = h.Options.Storage.ToString();
            if (h.Options.Storage != VectorStorage.Float32) json["refine"] = h.Refine;
            if (h.Options.RefineStorage != VectorStorage.Float32) json["refine_storage"] = h.Options.RefineStorage.ToString();
            json["bytes_per_vector"] = Math.Round(h.BytesPerVector, 1);
            detail = $"M {h.M}, efConstruction {h.Options.EfConstruction}, efSearch {h.EfSearch}, storage {h.Options.Storage}{(h.Options.Storage != VectorStorage.Float32 ? $" (refine {h.Refine}{(h.Options.RefineStorage != VectorStorage.Float32 ? $", exact vectors in {h.Options.RefineStorage}" : "")})" : "")}, {h.BytesPerVector:F0} bytes per vector in memory";
        }
        else if (index is FlatIndex flat)
        {
            json["bytes_per_vector"] = Math.Round(flat.BytesPerVector, 1);
            detail = $"{flat.BytesPerVector:F0} bytes per vector in memory";
        }
        return new Summary($"{path}: {index.GetType().Name}, {index.Count:N0} vectors of dimension {index.Dimension}, metric {index.Metric}", json, Lines: [detail]);
    }

    /// <summary>A bundle folder: its manifest's kind and sizes, checked as serving checks it, and each file it lists.</summary>
    private static Summary Bundle(string directory)
    {
        var manifest = Serving.ServingBundle.ReadManifest(directory);
        var kind = Serving.ServingBundle.KindOf(manifest, Path.Combine(directory, Serving.ServingBundle.ManifestFile));
        var table = new Table().AddColumns("file", "bytes");
        var files = new JsonObject();
        if (manifest["files"] is JsonObject listed)
            foreach (var (name, entry) in listed)
            {
                long bytes = entry?["bytes"]?.GetValue<long>() ?? 0;
                table.AddRow(Markup.Escape(name), $"{bytes:N0}");
                files[name] = bytes;
            }
        var json = new JsonObject { ["path"] = directory, ["kind"] = "bundle", ["bundle_kind"] = Serving.ServingBundle.KindName(kind), ["items"] = manifest["items"]?.DeepClone(), ["users"] = manifest["users"]?.DeepClone(), ["created_utc"] = manifest["created_utc"]?.DeepClone(), ["files"] = files };
        return new Summary($"{directory}: {Serving.ServingBundle.KindName(kind)} bundle, {manifest["items"]?.ToString() ?? "?"} items, {manifest["users"]?.ToString() ?? "?"} users, created {manifest["created_utc"]?.ToString() ?? "?"}", json, table);
    }

    /// <summary>A training run's folder: its epochs and evaluations as metrics.jsonl holds them, and whether its report is drawn.</summary>
    private static Summary Run(string directory)
    {
        var lines = RunReport.ReadMetrics(directory);
        int epochs = RunReport.Events(lines, "epoch").Count;
        int evaluations = RunReport.Events(lines, "evaluation").Count;
        bool report = File.Exists(Path.Combine(directory, RunReport.ReportFile));
        var checkpoints = Directory.Exists(Path.Combine(directory, "checkpoints")) ? Directory.GetFiles(Path.Combine(directory, "checkpoints"), "*.safetensors").Select(Path.GetFileName).Order().ToArray() : [];
        return new Summary($"{directory}: training run, {epochs} epoch(s) and {evaluations} evaluation(s) logged, {checkpoints.Length} checkpoint(s), report {(report ? "drawn" : "not drawn (vrecall report)")}",
            new JsonObject { ["path"] = directory, ["kind"] = "run", ["epochs"] = epochs, ["evaluations"] = evaluations, ["checkpoints"] = new JsonArray([.. checkpoints.Select(c => (JsonNode)c!)]), ["report"] = report });
    }
}
