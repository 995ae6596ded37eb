using Spectre.Console;

namespace VectorRecall.Cli.Commands;

internal static class CliErrors
{
    /// <summary>Runs a command body; input errors become a one-line message and exit code 1, Ctrl-C exit code 130.</summary>
    public static async Task<int> Guard(Func<Task<int>> body)
    {
        try { return await body(); }
        catch (OperationCanceledException)
        {
            AnsiConsole.MarkupLine("[yellow]stopped[/] (Ctrl-C); files already written are complete, nothing half-written was left.");
            return 130;
        }
        catch (Exception e) when (Program.IsUserError(e))
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }
}
