using System.CommandLine;
using Spectre.Console;

namespace VectorRecall.Cli.Commands;

/// <summary>
/// <c>vrecall report RUN_DIR</c>: draws a training run's report.html again from its metrics.jsonl (after a stopped run, or a
/// newer binary). <c>vrecall report A.json [B.json …]</c>: draws <c>bench ann --json</c> results together, recall against QPS.
/// </summary>
internal static class ReportCommand
{
    public static Command Create()
    {
        var paths = new Argument<string[]>("paths") { Description = "a run folder (runs/<time>-<name>, or what --run-dir named), or bench ann --json files", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string?>("--output") { Description = "bench results: the page to write [default: beside the first file, <name>.html]" };
        var command = new Command("report", "Draw a training run's report.html (training curves, metrics per K, timings, configuration) from its metrics.jsonl, or bench ann --json results as a recall-QPS chart.") { paths, output };
        command.SetAction((r, token) => CliErrors.Guard(() =>
        {
            var given = r.GetValue(paths)!;
            string page = given.Length == 1 && Directory.Exists(given[0])
                ? RunReport.Write(given[0])
                : RunReport.WriteBench(given, r.GetValue(output) ?? Path.ChangeExtension(given[0], ".html"));
            AnsiConsole.MarkupLineInterpolated($"wrote {page}");
            return Task.FromResult(0);
        }));
        return command;
    }
}
