using System.CommandLine;
using Spectre.Console;
using VectorRecall.Indexing;
using VectorRecall.IO;

namespace VectorRecall.Cli.Commands;

/// <summary><c>vrecall inspect PATH</c>: what a bundle folder, a .npy, .safetensors, .fvecs, .ivecs or .bvecs file, an index or a tree file holds.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("path") { Description = "a bundle folder, or a .npy, .safetensors, .fvecs, .ivecs or .bvecs file, an index (.vrix) or a TDM tree file" };
        var command = new Command("inspect", "Show the type, shape and metadata of a bundle, an array, weights, an index or a tree.") { file };
        command.SetAction((result, token) => CliErrors.Guard(() => Task.FromResult(Run(Path.GetFullPath(result.GetValue(file)!)))));
        return command;
    }

    private static int Run(string path)
    {
        if (Directory.Exists(path)) return Bundle(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file or folder");
        string ext = Path.GetExtension(path).ToLowerInvariant();
        // The project's own binary files (indexes, trees) say what they are in their header, whatever their name; the header
        // is read once here (a .vrix without one is an error naming the file, any other name falls through to "unknown").
        bool array = ext is ".npy" or ".safetensors" or ".fvecs" or ".ivecs" or ".bvecs";
        string? kind = array ? null : ext == ".vrix" ? IndexFile.ReadKind(path) : TryReadKind(path);
        if (kind is not null) return IndexOrTree(path, kind);
        switch (ext)
        {
            case ".npy":
                var a = Npy.Read(path);
                AnsiConsole.MarkupLineInterpolated($"{path}: [bold]{a.Type}[/] ({string.Join(", ", a.Shape)})");
                break;
            case ".safetensors":
                var (tensors, metadata) = SafeTensors.Read(path);
                var table = new Table().AddColumns("tensor", "dtype", "shape");
                foreach (var (name, t) in tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                    table.AddRow(Markup.Escape(name), t.Type.ToString(), Markup.Escape($"[{string.Join(", ", t.Shape)}]"));
                AnsiConsole.Write(table);
                foreach (var (k, v) in metadata) AnsiConsole.MarkupLineInterpolated($"[grey]metadata[/] {k} = {v}");
                break;
            case ".fvecs":
                var f = Vecs.ReadFvecs(path);
                AnsiConsole.MarkupLineInterpolated($"{path}: float32 vectors, {f.Rows} × {f.Cols}");
                break;
            case ".ivecs":
                var i = Vecs.ReadIvecs(path);
                AnsiConsole.MarkupLineInterpolated($"{path}: int32 vectors, {i.Shape[0]} × {i.Shape[1]}");
                break;
            case ".bvecs":
                var b = Vecs.ReadBvecs(path);
                AnsiConsole.MarkupLineInterpolated($"{path}: uint8 vectors, {b.Rows} × {b.Cols}");
                break;
            default:
                throw new ArgumentException($"{path}: unknown file type '{ext}' (expected a bundle folder, .npy, .safetensors, .fvecs, .ivecs, .bvecs, an index or a tree file)");
        }
        return 0;
    }

    private static string? TryReadKind(string path)
    {
        try { return IndexFile.ReadKind(path); }
        catch (FileFormatException) { return null; }
    }

    /// <summary>A file in the project's own format: a TDM tree, or an index of any kind.</summary>
    private static int IndexOrTree(string path, string kind)
    {
        if (kind == Tdm.ItemTree.FileKind)
        {
            var tree = Tdm.ItemTree.Load(path);
            AnsiConsole.MarkupLineInterpolated($"{path}: [bold]TDM tree[/], {tree.ItemCount:N0} items, branch {tree.Branch}, depth {tree.Depth}, {tree.NodeCount:N0} nodes with embeddings of dimension {tree.Dimension}");
            return 0;
        }
        using var index = IndexFactory.Load(path);
        AnsiConsole.MarkupLineInterpolated($"{path}: [bold]{index.GetType().Name}[/], {index.Count:N0} vectors of dimension {index.Dimension}, metric {index.Metric}");
        if (index is HnswIndex h)
            AnsiConsole.MarkupLineInterpolated($"M {h.M}, efConstruction {h.Options.EfConstruction}, efSearch {h.EfSearch}, storage {h.Options.Storage}{(h.Options.Storage != VectorStorage.Float32 ? $" (refine {h.Refine})" : "")}, {h.BytesPerVector:F0} bytes per vector in memory");
        else if (index is FlatIndex flat)
            AnsiConsole.MarkupLineInterpolated($"{flat.BytesPerVector:F0} bytes per vector in memory");
        return 0;
    }

    /// <summary>A bundle folder: its manifest's kind and sizes, checked as serving checks it, and each file it lists.</summary>
    private static int Bundle(string directory)
    {
        var manifest = Serving.ServingBundle.ReadManifest(directory);
        var kind = Serving.ServingBundle.KindOf(manifest, Path.Combine(directory, Serving.ServingBundle.ManifestFile));
        AnsiConsole.MarkupLineInterpolated($"{directory}: [bold]{Serving.ServingBundle.KindName(kind)} bundle[/], {manifest["items"]?.ToString() ?? "?"} items, {manifest["users"]?.ToString() ?? "?"} users, created {manifest["created_utc"]?.ToString() ?? "?"}");
        if (manifest["files"] is System.Text.Json.Nodes.JsonObject files)
        {
            var table = new Table().AddColumns("file", "bytes");
            foreach (var (name, entry) in files) table.AddRow(Markup.Escape(name), $"{entry?["bytes"]?.GetValue<long>() ?? 0:N0}");
            AnsiConsole.Write(table);
        }
        return 0;
    }
}
