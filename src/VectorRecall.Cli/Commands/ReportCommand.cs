using System.CommandLine;
using Spectre.Console;

namespace VectorRecall.Cli.Commands;

/// <summary><c>vrecall report RUN_DIR</c>: draws a training run's report.html again from its metrics.jsonl (after a stopped run, or a newer binary).</summary>
internal static class ReportCommand
{
    public static Command Create()
    {
        var run = new Argument<string>("run-dir") { Description = "the run folder (runs/<time>-<name>, or what --run-dir named)" };
        var command = new Command("report", "Draw a training run's report.html (training curves, metrics per K, timings, configuration) from its metrics.jsonl.") { run };
        command.SetAction((r, token) => CliErrors.Guard(() =>
        {
            string page = RunReport.Write(r.GetValue(run)!);
            AnsiConsole.MarkupLineInterpolated($"wrote {page}");
            return Task.FromResult(0);
        }));
        return command;
    }
}
