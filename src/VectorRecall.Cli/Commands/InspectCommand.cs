using System.CommandLine;
using Spectre.Console;
using VectorRecall.Indexing;
using VectorRecall.IO;

namespace VectorRecall.Cli.Commands;

/// <summary><c>vrecall inspect FILE</c>: what a .npy, .safetensors, .fvecs, .ivecs, .bvecs or .vrix (index) file holds.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var file = new Argument<FileInfo>("file") { Description = "a .npy, .safetensors, .fvecs, .ivecs, .bvecs or .vrix (index) file" };
        var command = new Command("inspect", "Show the type, shape and metadata of an array, weights or index file.") { file };
        command.SetAction((result, token) => CliErrors.Guard(() => Task.FromResult(Run(result.GetValue(file)!.FullName))));
        return command;
    }

    private static int Run(string path)
    {
        string ext = Path.GetExtension(path).ToLowerInvariant();
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
            case ".vrix":
                using (var index = IndexFactory.Load(path))
                {
                    AnsiConsole.MarkupLineInterpolated($"{path}: [bold]{index.GetType().Name}[/], {index.Count:N0} vectors of dimension {index.Dimension}, metric {index.Metric}");
                    if (index is HnswIndex h)
                        AnsiConsole.MarkupLineInterpolated($"M {h.M}, efConstruction {h.Options.EfConstruction}, efSearch {h.EfSearch}, storage {h.Options.Storage}{(h.Options.Storage != VectorStorage.Float32 ? $" (refine {h.Refine})" : "")}, {h.BytesPerVector:F0} bytes per vector in memory");
                    else if (index is FlatIndex flat)
                        AnsiConsole.MarkupLineInterpolated($"{flat.BytesPerVector:F0} bytes per vector in memory");
                }
                break;
            default:
                throw new ArgumentException($"{path}: unknown file type '{ext}' (expected .npy, .safetensors, .fvecs, .ivecs, .bvecs or .vrix)");
        }
        return 0;
    }
}
