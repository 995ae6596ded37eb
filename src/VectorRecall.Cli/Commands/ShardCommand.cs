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
        command.Subcommands.Add(CreateCompact());
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

    /// <summary><c>vrecall shard compact</c>: folds a set's logs of live item changes into a new set, offline (see <see cref="ShardSet.Compact"/>).</summary>
    private static Command CreateCompact()
    {
        var store = new Option<string>("--bundle-store") { Description = "the shard set whose logs (updates/) to fold in, as given to vrecall cluster", Required = true };
        var output = new Option<string>("--output") { Description = "new shard set folder to write (replaced if it holds a shard set; not the --bundle-store itself)", Required = true };
        var command = new Command("compact", "Fold each shard's log of live item changes into a new shard set, offline: shard files with the changes applied, and logs that keep only the live items' ids. Changes written after a shard's log was read stay in the old set, so compact a set no node writes to; a running cluster compacts in place with POST /v1/admin/compact (writes pause only while it publishes).")
        {
            store, output,
        };
        command.SetAction((r, token) => CliErrors.Guard(() =>
        {
            var clock = Stopwatch.StartNew();
            var source = ShardSet.Open(r.GetValue(store)!);
            ShardSet set = null!;
            DemoCommand.WithProgress($"Compacting {source.Shards} shards", source.Shards, report => set = ShardSet.Compact(source.Directory, r.GetValue(output)!, new Progress<int>(done => report(done))));
            AnsiConsole.MarkupLineInterpolated($"{set.Shards} shards with their logs folded in written to {set.Directory} in {clock.Elapsed.TotalSeconds:F1} s");
            return Task.FromResult(0);
        }));
        return command;
    }
}
