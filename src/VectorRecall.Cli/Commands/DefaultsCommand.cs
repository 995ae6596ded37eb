using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace VectorRecall.Cli.Commands;

/// <summary>
/// <c>vrecall defaults</c>: where <c>train</c> starts for each kind of data (the options marked [data-dependent] in its help),
/// so that the real-data defaults are stated in one place instead of in fourteen option descriptions.
/// </summary>
internal static class DefaultsCommand
{
    private static readonly (string Name, string When, DatasetDefaults Defaults)[] Kinds =
    [
        ("synthetic", "generated data (--dataset synthetic, the demo)", DatasetDefaults.Synthetic),
        ("time-ordered", "real data with time order (sequence files, json, csv/tsv with a time column): the sequence encoder", DatasetDefaults.For("csv", "sequence")),
        ("time-ordered, bag", "the same with --user-encoder bag: the two-tower's user tower", DatasetDefaults.Interactions),
        ("unordered", "real data without time order (lightgcn folders, gowalla, csv/tsv without a time column): the spectral two-tower", DatasetDefaults.Unordered),
    ];

    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "print the table as JSON" };
        var command = new Command("defaults", "Print where training starts for each kind of data: the options train marks [data-dependent] (a flag given always wins).") { json };
        command.SetAction((r, token) => CliErrors.Guard(() =>
        {
            if (r.GetValue(json)) Console.WriteLine(Json().ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
            else Print();
            return Task.FromResult(0);
        }));
        return command;
    }

    /// <summary>Each option's value per kind, in the help's order.</summary>
    private static (string Option, Func<DatasetDefaults, string> Value)[] Rows() =>
    [
        ("--spectral-rank", d => d.SpectralRank == PipelineOptions.AutoRank ? "auto" : Invariant(d.SpectralRank)),
        ("--embedding-dim", d => Invariant(d.EmbeddingDim)),
        ("--hidden", d => d.Hidden.Length == 0 ? "0 (none)" : string.Join(' ', d.Hidden)),
        ("--dropout", d => Invariant(d.Dropout)),
        ("--history-length", d => Invariant(d.HistoryLength)),
        ("--recent-length", d => Invariant(d.RecentLength)),
        ("--epochs", d => Invariant(d.Epochs)),
        ("--batch-size", d => Invariant(d.BatchSize)),
        ("--lr", d => Invariant(d.LearningRate)),
        ("--weight-decay", d => Invariant(d.WeightDecay)),
        ("--num-negatives", d => d == DatasetDefaults.Sequence ? $"{Invariant(d.NumNegatives)} (0, the full softmax, up to {DatasetDefaults.FullSoftmaxItems:N0} items)" : Invariant(d.NumNegatives)),
        ("--temperature", d => Invariant(d.Temperature)),
        ("--select-by", d => d.SelectBy.ToString().ToLowerInvariant()),
        ("--patience", d => Invariant(d.Patience)),
    ];

    private static string Invariant(IFormattable v) => v.ToString(null, CultureInfo.InvariantCulture);

    private static void Print()
    {
        var table = new Table().AddColumn("option");
        foreach (var kind in Kinds) table.AddColumn(kind.Name);
        foreach (var (option, value) in Rows()) table.AddRow([option, .. Kinds.Select(k => value(k.Defaults))]);
        AnsiConsole.Write(table);
        foreach (var kind in Kinds) AnsiConsole.MarkupLineInterpolated($"{kind.Name}: {kind.When}");
    }

    private static JsonObject Json()
    {
        var root = new JsonObject();
        foreach (var kind in Kinds)
        {
            var values = new JsonObject { ["when"] = kind.When };
            foreach (var (option, value) in Rows()) values[option[2..]] = value(kind.Defaults);
            root[kind.Name] = values;
        }
        return root;
    }
}
