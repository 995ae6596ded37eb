namespace VectorRecall.Cli.Commands;

/// <summary>
/// Flag names from before the one vocabulary (<c>--data</c> for what a command reads, <c>--output</c> for what it writes,
/// <c>--checkpoint-dir</c>, <c>--top-k</c>, <c>--ef-search</c>): they still work for this release, rewritten to the current
/// name with a note on standard error, and are gone from the help. The design note's snake_case names stay as aliases.
/// </summary>
internal static class DeprecatedFlags
{
    private static readonly Dictionary<string, string> Renamed = new(StringComparer.Ordinal)
    {
        ["--data-dir"] = "--data",
        ["--data-path"] = "--data",
        ["--input"] = "--data",
        ["--out"] = "--output",
        ["--save-index"] = "--output",
        ["--ckpt-dir"] = "--checkpoint-dir",
        ["--k"] = "--top-k",
        ["--ef"] = "--ef-search",
    };

    /// <summary>A flag's current name (itself unless it was renamed): what a config file's old keys mean.</summary>
    public static string Current(string flag) => Renamed.GetValueOrDefault(flag, flag);

    /// <summary>The command line with old names replaced (also in <c>--name=value</c> form), telling <paramref name="notes"/> once per name.</summary>
    public static string[] Rewrite(string[] args, TextWriter notes)
    {
        var result = new string[args.Length];
        var told = new HashSet<string>();
        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            int eq = arg.IndexOf('=');
            string name = eq > 0 ? arg[..eq] : arg;
            if (arg.StartsWith("--", StringComparison.Ordinal) && Renamed.TryGetValue(name, out var current))
            {
                if (told.Add(name)) notes.WriteLine($"note: {name} is now {current}; the old name goes in the next release");
                arg = eq > 0 ? current + arg[eq..] : current;
            }
            result[i] = arg;
        }
        return result;
    }
}
