using System.Globalization;
using System.Text.Json;
using VectorRecall.IO;

namespace VectorRecall.Data;

/// <summary>
/// Readers for the interaction formats real data comes in. Each rejects a malformed line with
/// <see cref="FileFormatException"/> naming the file, the line and what was expected.
/// </summary>
public static partial class DatasetLoaders
{
    /// <summary>The data set names <see cref="Load"/> knows.</summary>
    public static readonly string[] Names = ["gowalla", "beauty", "instruments", "lightgcn", "sequences", "json", "csv", "tsv", "parquet"];

    /// <summary>
    /// Loads a data set by name: the shipped ones from their folder (<c>gowalla</c>: LightGCN files;
    /// <c>beauty</c>: <c>Beauty.txt</c> + attributes; <c>instruments</c>: <c>Instruments.inter.json</c>),
    /// or a format from a folder (<c>lightgcn</c>) or a file (<c>sequences</c>, <c>json</c>, <c>csv</c> and <c>tsv</c>, read as
    /// <paramref name="delimited"/> says: <see cref="LoadDelimited"/>; <c>parquet</c>, its columns found the same way: <see cref="LoadParquet"/>).
    /// </summary>
    public static InteractionDataset Load(string name, string path, TableFormat? delimited = null) => name.ToLowerInvariant() switch
    {
        "gowalla" => LoadLightGcn(path, "gowalla"),
        "lightgcn" => LoadLightGcn(path, Path.GetFileName(Path.TrimEndingDirectorySeparator(path))),
        "beauty" => LoadSequences(Path.Combine(path, "Beauty.txt"), Path.Combine(path, "Beauty_item2attributes.json"), "beauty"),
        "instruments" => LoadInteractionJson(Path.Combine(path, "Instruments.inter.json"), name: "instruments"),
        "sequences" => LoadSequences(path, name: Path.GetFileNameWithoutExtension(path)),
        "json" => LoadInteractionJson(path, name: Path.GetFileNameWithoutExtension(path)),
        "csv" or "tsv" => LoadDelimited(path, delimited, Path.GetFileNameWithoutExtension(path)),
        "parquet" => LoadParquet(path, delimited, Path.GetFileNameWithoutExtension(path)),
        _ => throw new ArgumentException($"unknown data set '{name}': expected one of {string.Join(", ", Names)}"),
    };

    /// <summary>
    /// The LightGCN format: <c>train.txt</c> and <c>test.txt</c> in <paramref name="directory"/>, one
    /// line per user, <c>uid item item …</c>, ids from 0 (used as indices). No validation split.
    /// </summary>
    public static InteractionDataset LoadLightGcn(string directory, string name = "lightgcn")
    {
        string trainPath = Path.Combine(directory, "train.txt"), testPath = Path.Combine(directory, "test.txt");
        var train = ReadUserLines(trainPath, firstId: 0);
        var test = ReadUserLines(testPath, firstId: 0);
        int users = Math.Max(train.Count == 0 ? 0 : train.Keys.Max() + 1, test.Count == 0 ? 0 : test.Keys.Max() + 1);
        int items = 1 + Math.Max(MaxItem(train), MaxItem(test));
        if (users == 0 || items == 0) throw new FileFormatException(trainPath, "no interactions");
        var empty = new List<int>[users];
        for (int u = 0; u < users; u++) empty[u] = [];
        return new InteractionDataset(name, IdMap.Sequential(users), IdMap.Sequential(items), Lists(train, users), UserItemLists.FromLists(empty), Lists(test, users), chronological: false);
    }

    /// <summary>
    /// A chronological sequence file (<c>Beauty.txt</c>: <c>uid i1 i2 …</c>, oldest first), split
    /// leave-last-out; optionally item attributes from a JSON map <c>{"item": [attribute, …]}</c>.
    /// Ids are kept as given and mapped to dense indices in order of appearance.
    /// </summary>
    public static InteractionDataset LoadSequences(string path, string? attributesPath = null, string name = "sequences")
    {
        var users = new IdMap();
        var items = new IdMap();
        var sequences = new List<IReadOnlyList<int>>();
        int lineNumber = 0;
        foreach (var line in ReadLines(path))
        {
            lineNumber++;
            var tokens = Split(line);
            if (tokens.Length == 0) continue;
            long uid = ParseId(tokens[0], path, lineNumber, "user id");
            if (users.TryGetRow(uid, out _)) throw new FileFormatException(path, $"line {lineNumber}: user {uid} appears a second time (one line per user expected)");
            users.Intern(IdMap.KeyOf(uid));
            var seq = new List<int>(tokens.Length - 1);
            for (int t = 1; t < tokens.Length; t++) seq.Add(items.Intern(IdMap.KeyOf(ParseId(tokens[t], path, lineNumber, "item id"))));
            sequences.Add(seq);
        }
        return Build(name, path, users, items, sequences, attributesPath);
    }

    /// <summary>A JSON map <c>{"user": [item, …]}</c> with each list oldest first (as <c>Instruments.inter.json</c>), split leave-last-out.</summary>
    public static InteractionDataset LoadInteractionJson(string path, string? attributesPath = null, string name = "interactions")
    {
        var users = new IdMap();
        var items = new IdMap();
        var sequences = new List<IReadOnlyList<int>>();
        foreach (var (key, value) in ReadJsonObject(path))
        {
            long uid = ParseId(key, path, 0, "user id (a key)");
            users.Intern(IdMap.KeyOf(uid));
            if (value.ValueKind != JsonValueKind.Array) throw new FileFormatException(path, $"user \"{key}\": expected a list of item ids, found {value.ValueKind}");
            var seq = new List<int>();
            foreach (var item in value.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out long id) || id < 0)
                    throw new FileFormatException(path, $"user \"{key}\": item {item.GetRawText()} is not a non-negative integer id");
                seq.Add(items.Intern(IdMap.KeyOf(id)));
            }
            sequences.Add(seq);
        }
        return Build(name, path, users, items, sequences, attributesPath);
    }

    internal static InteractionDataset Build(string name, string path, IdMap users, IdMap items, List<IReadOnlyList<int>> sequences, string? attributesPath, bool chronological = true)
    {
        if (items.Count == 0) throw new FileFormatException(path, "no interactions");
        var (train, validation, test) = InteractionDataset.LeaveLastOut(sequences);
        if (test.Items.Length == 0)
            throw new FileFormatException(path, $"no user has two or more interactions ({users.Count} users, {items.Count} items): leave-last-out holds each user's last one out for testing, so there is nothing to train on and test");
        UserItemLists? attributes = null;
        int attributeCount = 0;
        if (attributesPath is not null) (attributes, attributeCount) = ReadAttributes(attributesPath, items);
        return new InteractionDataset(name, users, items, train, validation, test, attributes, attributeCount, chronological);
    }

    /// <summary>Item attributes from <c>{"item": [attribute, …]}</c>; items the interactions never mention are ignored.</summary>
    private static (UserItemLists Attributes, int Count) ReadAttributes(string path, IdMap items)
    {
        var attributeIds = new IdMap();
        var perItem = new List<int>[items.Count];
        for (int i = 0; i < perItem.Length; i++) perItem[i] = [];
        foreach (var (key, value) in ReadJsonObject(path))
        {
            long id = ParseId(key, path, 0, "item id (a key)");
            if (value.ValueKind != JsonValueKind.Array) throw new FileFormatException(path, $"item \"{key}\": expected a list of attribute ids, found {value.ValueKind}");
            if (!items.TryGetRow(id, out int item)) continue;
            foreach (var a in value.EnumerateArray())
            {
                if (a.ValueKind != JsonValueKind.Number || !a.TryGetInt64(out long attribute))
                    throw new FileFormatException(path, $"item \"{key}\": attribute {a.GetRawText()} is not an integer id");
                perItem[item].Add(attributeIds.Intern(IdMap.KeyOf(attribute)));
            }
        }
        return (UserItemLists.FromLists(perItem), attributeIds.Count);
    }

    private static Dictionary<int, List<int>> ReadUserLines(string path, int firstId)
    {
        var result = new Dictionary<int, List<int>>();
        int lineNumber = 0;
        foreach (var line in ReadLines(path))
        {
            lineNumber++;
            var tokens = Split(line);
            if (tokens.Length == 0) continue;
            long uid = ParseId(tokens[0], path, lineNumber, "user id") - firstId;
            if (uid > int.MaxValue) throw new FileFormatException(path, $"line {lineNumber}: user id {tokens[0]} is too large");
            if (result.ContainsKey((int)uid)) throw new FileFormatException(path, $"line {lineNumber}: user {tokens[0]} appears a second time (one line per user expected)");
            var list = new List<int>(tokens.Length - 1);
            for (int t = 1; t < tokens.Length; t++)
            {
                long item = ParseId(tokens[t], path, lineNumber, "item id") - firstId;
                if (item > int.MaxValue) throw new FileFormatException(path, $"line {lineNumber}: item id {tokens[t]} is too large");
                list.Add((int)item);
            }
            result[(int)uid] = list;
        }
        return result;
    }

    private static int MaxItem(Dictionary<int, List<int>> lists) => lists.Values.Where(l => l.Count > 0).Select(l => l.Max()).DefaultIfEmpty(-1).Max();

    private static UserItemLists Lists(Dictionary<int, List<int>> lists, int users)
    {
        var perUser = new IReadOnlyList<int>[users];
        for (int u = 0; u < users; u++) perUser[u] = lists.TryGetValue(u, out var l) ? l : [];
        return UserItemLists.FromLists(perUser);
    }

    private static IEnumerable<string> ReadLines(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: file not found", path);
        return File.ReadLines(path);
    }

    private static string[] Split(string line) => line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);

    private static long ParseId(string token, string path, int line, string what) =>
        long.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out long id)
            ? id
            : throw new FileFormatException(path, $"{(line > 0 ? $"line {line}: " : "")}{what} '{Excerpt.Of(token)}' is not a non-negative integer");

    private static IEnumerable<(string Key, JsonElement Value)> ReadJsonObject(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: file not found", path);
        using var doc = JsonFields.ParseDocument(File.ReadAllBytes(path), path);
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new FileFormatException(path, "expected a JSON object of id → list");
        foreach (var p in doc.RootElement.EnumerateObject()) yield return (p.Name, p.Value.Clone());
    }
}
