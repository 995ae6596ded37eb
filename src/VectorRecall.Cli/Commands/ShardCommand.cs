using System.CommandLine;
using System.Diagnostics;
using Spectre.Console;
using VectorRecall.Serving;

namespace VectorRecall.Cli.Commands;

/// <summary>
/// <c>vrecall shard</c>: splits a two-tower or sequence bundle's items into shards for a recall cluster, each shard an index
/// of the bundle index's kind and settings over the items whose id hashes to it (see <see cref="ShardSet"/>).
/// </summary>
internal static class ShardCommand
{
    public static Command Create()
    {
        var bundle = new Option<string>("--bundle") { Description = "the two-tower or sequence bundle to split", Required = true };
        var shards = new Option<int>("--shards") { Description = $"how many shards (1 to {ShardSet.MaxShards}); an item's shard is XxHash64 of its id's text modulo this", Required = true };
        var output = new Option<string>("--output") { Description = "shard set folder to write (replaced if it holds a shard set)", Required = true };
        var command = new Command("shard", "Split a bundle's items into shards for a recall cluster: one index per shard, a copy of the bundle, and a manifest with each file's checksum.")
        {
            bundle, shards, output,
        };
        command.SetAction((r, token) => CliErrors.Guard(() =>
        {
            int n = r.GetValue(shards);
            if (n < 1 || n > ShardSet.MaxShards) throw new ArgumentException($"--shards must be 1 to {ShardSet.MaxShards}, got {n}");
            var clock = Stopwatch.StartNew();
            ShardSet set = null!;
            DemoCommand.WithProgress($"Building {n} shards", n, report => set = ShardSet.Split(r.GetValue(bundle)!, n, r.GetValue(output)!, new Progress<int>(done => report(done))));
            AnsiConsole.MarkupLineInterpolated($"{set.Items:N0} items in {set.Shards} shards written to {set.Directory} in {clock.Elapsed.TotalSeconds:F1} s");
            return Task.FromResult(0);
        }));
        return command;
    }
}
