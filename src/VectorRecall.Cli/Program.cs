using System.CommandLine;
using Spectre.Console;
using VectorRecall.Cli.Commands;

namespace VectorRecall.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        // Redirected output (logs, CI) has no terminal width; 80 columns would wrap every line.
        if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = 120;
        var root = new RootCommand("VectorRecall: learn user and item representations, index the items, recall the top-K for a user.");
        var demo = DemoCommand.Create();
        root.Add(demo);
        root.Add(DemoCommand.CreateTrain());
        root.Add(EvalCommand.Create());
        root.Add(InspectCommand.Create());
        root.Add(IndexCommands.Create());
        root.Add(BenchCommands.Create());
        root.Add(TdmCommands.Create());
        root.Add(RqVaeCommands.Create());
        var serve = ServeCommand.Create();
        root.Add(serve);
        root.Add(BundleCommand.Create());
        // The one thread setting, on every command: all parallel work reads Threads.Count.
        var threads = new Option<int>("--threads") { Description = "threads for all parallel work: training, index builds, batch search (0: all cores)", Recursive = true, DefaultValueFactory = _ => 0 };
        root.Add(threads);
        // `vrecall` alone runs the demo on its defaults.
        root.SetAction((_, token) => DemoCommand.RunAsync(new PipelineOptions(), demo: true, token));
        try
        {
            var parsed = root.Parse(args);
            int threadCount = parsed.GetValue(threads);
            if (threadCount < 0) throw new ArgumentException($"--threads must be >= 0 (0: all cores), got {threadCount}");
            if (threadCount > 0) Numerics.Threads.Count = threadCount;
            // The web host drains on SIGTERM / Ctrl-C by itself; System.CommandLine's handler would cut the drain short.
            var invocation = new InvocationConfiguration();
            if (parsed.CommandResult.Command == serve) invocation.ProcessTerminationTimeout = null;
            return parsed.Invoke(invocation);
        }
        catch (Exception e) when (IsUserError(e))
        {
            AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {CliErrors.Describe(e)}");
            return 1;
        }
    }

    /// <summary>Errors caused by input (files, arguments), reported as one line instead of a stack trace.</summary>
    internal static bool IsUserError(Exception e) =>
        e is IOException or ArgumentException or InvalidDataException or UnauthorizedAccessException or FormatException;
}
