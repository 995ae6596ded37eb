using System.CommandLine;
using System.CommandLine.Parsing;
using Spectre.Console;
using VectorRecall.Cli.Commands;

namespace VectorRecall.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        ConfigureConsole();
        var root = new RootCommand("VectorRecall: learn user and item representations, index the items, recall the top-K for a user.");
        var demo = DemoCommand.Create();
        root.Add(demo);
        root.Add(DemoCommand.CreateTrain());
        root.Add(DefaultsCommand.Create());
        root.Add(ReportCommand.Create());
        root.Add(EvalCommand.Create());
        root.Add(InspectCommand.Create());
        root.Add(IndexCommands.Create());
        root.Add(BenchCommands.Create());
        root.Add(TdmCommands.Create());
        root.Add(RqVaeCommands.Create());
        var serve = ServeCommand.Create();
        root.Add(serve);
        root.Add(BundleCommand.Create());
        root.Add(ShardCommand.Create());
        root.Add(ClusterCommand.Create());
        // The one thread setting, on every command: all parallel work reads Threads.Count.
        var threads = new Option<int>("--threads") { Description = "threads for all parallel work: training, index builds, batch search (0: all cores)", Recursive = true, DefaultValueFactory = _ => 0 };
        root.Add(threads);
        root.Add(ConfigFile.Option);
        // `vrecall` alone runs the demo on its defaults.
        // The same options, defaults and run folder as `vrecall demo`: it is that command with no flags.
        root.SetAction((_, token) => root.Parse(["demo"]).InvokeAsync(cancellationToken: token));
        try
        {
            args = DeprecatedFlags.Rewrite(args, Console.Error);
            var parsed = root.Parse(args);
            if (parsed.Errors.Count > 0) return UsageError(parsed);
            parsed = root.Parse(ConfigFile.Expand(args, root));
            if (parsed.Errors.Count > 0) return UsageError(parsed);
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

    /// <summary>Output goes to a file or pipe, or NO_COLOR is set: no escape codes (colour or bold), and progress as plain lines.</summary>
    internal static bool PlainOutput { get; private set; }

    private static void ConfigureConsole()
    {
        PlainOutput = Console.IsOutputRedirected || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"));
        var output = new AnsiConsoleOutput(Console.Out);
        AnsiConsole.Console = AnsiConsole.Create(PlainOutput
            ? new AnsiConsoleSettings { Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Interactive = InteractionSupport.No, Out = output }
            : new AnsiConsoleSettings { Out = output });
        // A log or pipe has no terminal width: lines are as long as their content (tables size to it), so JSON and long
        // lines are never broken mid-token.
        if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = 4096;
    }

    /// <summary>
    /// A command line that does not parse: each problem on one line and where the help is, not the whole help after it;
    /// exit code 2, as usage errors have by convention (1 is left to runs that fail).
    /// </summary>
    private static int UsageError(ParseResult parsed)
    {
        foreach (var error in parsed.Errors) Console.Error.WriteLine($"error: {error.Message}");
        var names = new List<string>();
        for (var command = parsed.CommandResult; command.Parent is CommandResult parent; command = parent) names.Insert(0, command.Command.Name);
        Console.Error.WriteLine($"see: vrecall {string.Join(' ', names)}{(names.Count > 0 ? " " : "")}--help");
        return 2;
    }

    /// <summary>Errors caused by input (files, arguments), reported as one line instead of a stack trace.</summary>
    internal static bool IsUserError(Exception e) =>
        e is IOException or ArgumentException or InvalidDataException or UnauthorizedAccessException or FormatException;
}
