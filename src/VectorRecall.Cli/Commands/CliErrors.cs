using System.Text;
using Spectre.Console;
using VectorRecall.Numerics;

namespace VectorRecall.Cli.Commands;

internal static class CliErrors
{
    /// <summary>Runs a command body; input errors and running out of memory become a one-line message and exit code 1, Ctrl-C exit code 130.</summary>
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
            Console.Error.WriteLine($"error: {Describe(e)}");
            return 1;
        }
        catch (OutOfMemoryException)
        {
            // What ran out is the machine's (or the container's) memory, not the input: one line, not a stack trace.
            Console.Error.WriteLine($"error: {OutOfMemory(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes)}");
            return 1;
        }
    }

    /// <summary>The one line for a run that ran out of memory, given the bytes the process may use.</summary>
    public static string OutOfMemory(long availableBytes) =>
        $"out of memory: this run needed more than the {availableBytes / 1e9:F1} GB this process may use; a smaller model, batch or " +
        "data set needs less (`vrecall defaults` lists the sizes), or run it where there is more memory. Files are written whole or not at all";

    /// <summary>Flags whose name is not the kebab-case of the library property they set.</summary>
    private static readonly Dictionary<string, string> FlagOfProperty = new()
    {
        ["LearningRate"] = "--lr", ["SaveEvery"] = "--eval-step", ["MlpHidden"] = "--mlp", ["KMeansIters"] = "--kmeans-iters",
    };

    /// <summary>An error's one line: a setting the library refused is named by the flag that sets it ("--lr must be positive").</summary>
    public static string Describe(Exception e) => e switch
    {
        SettingException s => $"{FlagOf(s.Property)} {s.Problem}",
        // The library's argument checks name a C# parameter ("(Parameter 'options')"), which means nothing on a command line.
        ArgumentException { ParamName: { } name } a when a.Message.EndsWith($" (Parameter '{name}')", StringComparison.Ordinal) =>
            a.Message[..^$" (Parameter '{name}')".Length],
        _ => e.Message,
    };

    /// <summary>The flag of a settings property: EmbeddingDim → --embedding-dim, unless it has a name of its own.</summary>
    public static string FlagOf(string property)
    {
        if (FlagOfProperty.TryGetValue(property, out var flag)) return flag;
        var kebab = new StringBuilder("--");
        for (int i = 0; i < property.Length; i++)
        {
            char c = property[i];
            bool boundary = i > 0 && char.IsUpper(c) && (char.IsLower(property[i - 1]) || char.IsDigit(property[i - 1]) || i + 1 < property.Length && char.IsLower(property[i + 1]));
            if (boundary) kebab.Append('-');
            kebab.Append(char.ToLowerInvariant(c));
        }
        return kebab.ToString();
    }
}
