using System.Diagnostics;
using System.Text.Json.Nodes;
using VectorRecall.Serving;

namespace VectorRecall.Benchmarks;

/// <summary>
/// <c>-- writer-open BUNDLE [shards]</c>: how long a shard writer takes to open its log (<see cref="ShardUpdateLog.Open"/>)
/// when it learns its shard's bundle items from the shard's own id files, against the same set with those listings taken
/// out of its manifest (as sets written before them), where it reads and hashes the bundle's whole id list.
/// </summary>
internal static class WriterOpenTiming
{
    public static void Run(string[] args)
    {
        string bundle = args.Length > 0 ? args[0] : "bundle";
        int shards = args.Length > 1 ? int.Parse(args[1]) : 6;
        string root = Path.Combine(Path.GetTempPath(), $"vrecall-writer-open-{Environment.ProcessId}");
        try
        {
            var listed = ShardSet.Split(bundle, shards, Path.Combine(root, "listed"));
            string unlisted = Path.Combine(root, "unlisted");
            Copy(listed.Directory, unlisted);
            var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(unlisted, ShardSet.ManifestFile)))!.AsObject();
            foreach (var (_, entry) in manifest["files"]!.AsObject()) entry!.AsObject().Remove("owned");
            File.WriteAllText(Path.Combine(unlisted, ShardSet.ManifestFile), manifest.ToJsonString());
            var sets = new[] { ("the shard's own id files", listed), ("the bundle's whole id list", ShardSet.Open(unlisted)) };
            Console.WriteLine($"{listed.Items:N0} bundle items, {shards} shards; ms per writer open (median of 3 rounds over every shard)");
            foreach (var (name, set) in sets)
            {
                var rounds = Enumerable.Range(0, 3).Select(_ =>
                {
                    var clock = Stopwatch.StartNew();
                    for (int s = 0; s < shards; s++) ShardUpdateLog.Open(set, s).Dispose();
                    return clock.Elapsed.TotalMilliseconds / shards;
                }).Order().ToArray();
                Console.WriteLine($"{name,-28} {rounds[1],8:F1}");
            }
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }

    private static void Copy(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string file in Directory.GetFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        foreach (string dir in Directory.GetDirectories(from)) Copy(dir, Path.Combine(to, Path.GetFileName(dir)));
    }
}
