using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using VectorRecall.IO;
using YamlDotNet.RepresentationModel;

namespace VectorRecall.Cli.Commands;

/// <summary>
/// <c>--config run.yaml</c> (or <c>.json</c>): any of a command's options in a file, one key per option — the flag without its
/// dashes, in kebab or snake case (<c>embedding-dim: 64</c>, <c>embedding_dim: 64</c>), a list for options that take several
/// values — and a flag on the command line wins over the file (RecBole's habit). The file becomes command-line tokens before
/// parsing, so it is checked exactly as flags are; a key no option of the command has is refused with the file's name.
/// </summary>
internal static class ConfigFile
{
    public static readonly Option<string?> Option = new("--config")
    {
        Description = "a YAML or JSON file of this command's options (keys are the flags without dashes); flags on the command line win",
        Recursive = true,
    };

    private const long MaxBytes = 1 << 20;

    /// <summary>The command line with the config file's options added after it (those not given on it); unchanged without --config.</summary>
    public static string[] Expand(string[] args, RootCommand root)
    {
        var parsed = root.Parse(args);
        if (parsed.GetValue(Option) is not { } path) return args;
        var command = parsed.CommandResult.Command;
        if (command == root) throw new ArgumentException("--config applies to a command: vrecall train --config FILE (or demo, eval, …)");
        var options = command.Options.Concat(root.Options.Where(o => o.Recursive)).ToList();
        var given = new HashSet<Option>(parsed.CommandResult.Children.OfType<System.CommandLine.Parsing.OptionResult>().Where(r => !r.Implicit).Select(r => r.Option));
        foreach (var r in parsed.RootCommandResult.Children.OfType<System.CommandLine.Parsing.OptionResult>().Where(r => !r.Implicit)) given.Add(r.Option);

        var added = new List<string>();
        foreach (var (key, values) in Read(path))
        {
            string flag = DeprecatedFlags.Current("--" + key.Replace('_', '-'));
            var option = options.FirstOrDefault(o => o.Name == flag || o.Aliases.Contains(flag) || o.Name == "--" + key || o.Aliases.Contains("--" + key))
                ?? throw new FileFormatException(path, $"'{key}' is not an option of vrecall {command.Name} (see vrecall {command.Name} --help)");
            if (option == Option) throw new FileFormatException(path, "a config file cannot name another (--config)");
            if (given.Contains(option)) continue;   // the command line wins
            added.Add(option.Name);
            added.AddRange(values);
        }
        return [.. args, .. added];
    }

    /// <summary>The file's keys with their values as tokens: a scalar is one, a list one per item, null none (a switch).</summary>
    private static List<(string Key, string[] Values)> Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: config file not found", path);
        var info = new FileInfo(path);
        if (info.Length > MaxBytes) throw new FileFormatException(path, $"is {info.Length:N0} bytes; a config file is at most {MaxBytes:N0}");
        string text = File.ReadAllText(path);
        return Path.GetExtension(path).ToLowerInvariant() == ".json" ? FromJson(text, path) : FromYaml(text, path);
    }

    private static List<(string, string[])> FromJson(string text, string path)
    {
        using var doc = JsonFields.ParseDocument(System.Text.Encoding.UTF8.GetBytes(text), path);
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new FileFormatException(path, "expected a JSON object of option → value");
        var result = new List<(string, string[])>();
        foreach (var p in doc.RootElement.EnumerateObject())
            result.Add((p.Name, p.Value.ValueKind switch
            {
                JsonValueKind.Array => [.. p.Value.EnumerateArray().Select(v => JsonScalar(v, p.Name, path))],
                JsonValueKind.Null => [],
                _ => [JsonScalar(p.Value, p.Name, path)],
            }));
        return result;
    }

    private static string JsonScalar(JsonElement v, string key, string path) => v.ValueKind switch
    {
        JsonValueKind.String => v.GetString()!,
        JsonValueKind.Number => v.GetRawText(),
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        _ => throw new FileFormatException(path, $"'{key}': expected a number, text, true/false or a list of them, found {v.ValueKind}"),
    };

    private static List<(string, string[])> FromYaml(string text, string path)
    {
        var stream = new YamlStream();
        try { stream.Load(new StringReader(text)); }
        catch (YamlDotNet.Core.YamlException e) { throw new FileFormatException(path, $"line {e.Start.Line}: {e.Message}"); }
        if (stream.Documents.Count == 0) return [];
        if (stream.Documents[0].RootNode is not YamlMappingNode map) throw new FileFormatException(path, "expected a mapping of option: value");
        var result = new List<(string, string[])>();
        foreach (var (k, v) in map.Children)
        {
            string key = (k as YamlScalarNode)?.Value ?? throw new FileFormatException(path, $"line {k.Start.Line}: a key must be plain text");
            result.Add((key, v switch
            {
                YamlScalarNode { Value: null or "" or "~" or "null" } => [],
                YamlScalarNode s => [s.Value!],
                YamlSequenceNode seq => [.. seq.Children.Select(c => (c as YamlScalarNode)?.Value ?? throw new FileFormatException(path, $"line {c.Start.Line}: '{key}' lists something other than values"))],
                _ => throw new FileFormatException(path, $"line {v.Start.Line}: '{key}' must be a value or a list of values"),
            }));
        }
        return result;
    }
}
