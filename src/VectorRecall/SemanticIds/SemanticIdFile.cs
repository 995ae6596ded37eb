using System.Globalization;
using System.Text.Json;
using VectorRecall.Data;
using VectorRecall.IO;

namespace VectorRecall.SemanticIds;

/// <summary>
/// The design note's id file: a JSON object from item id to its tokens, level l's code c written
/// <c>&lt;x_c&gt;</c> with x the l-th letter (<c>{"0": ["&lt;a_128&gt;", "&lt;b_241&gt;", "&lt;c_146&gt;"], …}</c>).
/// Keys are the items' own ids (integers or text) when given, else row numbers.
/// </summary>
public static class SemanticIdFile
{
    public const int MaxLevels = 26;

    public static string Token(int level, int code) =>
        level is >= 0 and < MaxLevels ? $"<{(char)('a' + level)}_{code.ToString(CultureInfo.InvariantCulture)}>"
            : throw new ArgumentOutOfRangeException(nameof(level), $"ids have at most {MaxLevels} levels (one letter each), got level {level}");

    public static void Write(string path, SemanticCodes codes, IdMap? itemIds = null)
    {
        if (itemIds is not null && itemIds.Count != codes.Count) throw new ArgumentException($"{itemIds.Count} item ids for {codes.Count} items");
        if (codes.Levels > MaxLevels) throw new ArgumentException($"ids have at most {MaxLevels} levels, these have {codes.Levels}");
        AtomicFile.Write(path, stream =>
        {
            // The relaxed encoder writes '<' and '>' as they are, as the design note's files have them.
            using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
            json.WriteStartObject();
            for (int i = 0; i < codes.Count; i++)
            {
                json.WriteStartArray(itemIds?[i] ?? i.ToString(CultureInfo.InvariantCulture));
                var row = codes.Of(i);
                for (int l = 0; l < row.Length; l++) json.WriteStringValue(Token(l, row[l]));
                json.WriteEndArray();
            }
            json.WriteEndObject();
        });
    }

    /// <summary>Reads an id file: each item's id (any non-empty key; the parser refuses a key given twice) and its codes (every item must have the same number of levels, tokens in level order).</summary>
    public static (IdMap ItemIds, int[] Codes, int Levels) Read(string path)
    {
        using var doc = JsonFields.ParseDocument(File.ReadAllBytes(path), path);
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new FileFormatException(path, "expected an object from item id to its list of tokens");
        var ids = new IdMap();
        var codes = new List<int>();
        int levels = -1;
        foreach (var entry in doc.RootElement.EnumerateObject())
        {
            if (entry.Name.Length == 0) throw new FileFormatException(path, "an item's key is empty");
            if (entry.Value.ValueKind != JsonValueKind.Array) throw new FileFormatException(path, $"item \"{entry.Name}\": expected a list of tokens");
            int n = entry.Value.GetArrayLength();
            if (levels < 0) levels = n;
            if (n != levels || n == 0) throw new FileFormatException(path, $"item \"{entry.Name}\": {n} tokens, the first item has {levels}");
            int l = 0;
            foreach (var token in entry.Value.EnumerateArray())
            {
                string s = token.ValueKind == JsonValueKind.String ? token.GetString()! : "";
                string prefix = $"<{(char)('a' + l)}_";
                if (!s.StartsWith(prefix, StringComparison.Ordinal) || !s.EndsWith('>')
                    || !int.TryParse(s.AsSpan(prefix.Length, s.Length - prefix.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out int code))
                    throw new FileFormatException(path, $"item \"{entry.Name}\", level {l}: token {token.GetRawText()} is not of the form {prefix}N>");
                codes.Add(code);
                l++;
            }
            ids.Intern(entry.Name);
        }
        if (ids.Count == 0) throw new FileFormatException(path, "no items");
        return (ids, codes.ToArray(), levels);
    }
}
