using System.Text.Json;
using System.Text.Json.Nodes;

namespace VectorRecall.IO;

/// <summary>
/// Typed reads of a JSON document's fields: each one checks the field's JSON type and range and
/// fails with a <see cref="FileFormatException"/> naming the file and the field, never with the
/// runtime's conversion message.
/// </summary>
public static class JsonFields
{
    /// <summary>Parses <paramref name="utf8"/> as a JSON object; invalid UTF-8, a non-object root and duplicate keys are refused.</summary>
    public static JsonObject ParseObject(ReadOnlySpan<byte> utf8, string path)
    {
        if (!System.Text.Unicode.Utf8.IsValid(utf8)) throw new FileFormatException(path, $"is not valid UTF-8 text (byte {FirstInvalidUtf8(utf8)})");
        JsonNode? root;
        try { root = JsonNode.Parse(utf8, documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false, MaxDepth = 32 }); }
        catch (JsonException e) { throw new FileFormatException(path, $"not valid JSON: {FirstSentence(e.Message)}"); }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException) { throw new FileFormatException(path, $"not valid JSON text: {FirstSentence(e.Message)}"); }
        return root as JsonObject ?? throw new FileFormatException(path, $"the root is {Describe(root)}, expected a JSON object");
    }

    public static string String(JsonObject o, string field, string path, string? prefix = null) =>
        Optional(o, field) is { } node ? StringOf(node, Name(prefix, field), path) : throw Missing(path, prefix, field);

    public static string? OptionalString(JsonObject o, string field, string path, string? prefix = null) =>
        Optional(o, field) is { } node ? StringOf(node, Name(prefix, field), path) : null;

    public static long Int64(JsonObject o, string field, string path, long min = long.MinValue, long max = long.MaxValue, string? prefix = null)
    {
        var node = Optional(o, field) ?? throw Missing(path, prefix, field);
        string name = Name(prefix, field);
        if (node is not JsonValue v || v.GetValueKind() != JsonValueKind.Number || !v.TryGetValue(out long value))
            throw new FileFormatException(path, $"field '{name}' must be an integer, found {Describe(node)}");
        if (value < min || value > max) throw new FileFormatException(path, $"field '{name}' is {value}, outside [{min}, {max}]");
        return value;
    }

    public static int Int32(JsonObject o, string field, string path, int min = int.MinValue, int max = int.MaxValue, string? prefix = null) =>
        (int)Int64(o, field, path, min, max, prefix);

    public static JsonObject Object(JsonObject o, string field, string path, string? prefix = null) =>
        Optional(o, field) switch
        {
            JsonObject child => child,
            null => throw Missing(path, prefix, field),
            var other => throw new FileFormatException(path, $"field '{Name(prefix, field)}' must be an object, found {Describe(other)}"),
        };

    /// <summary>The field's node, or null when it is absent or JSON null.</summary>
    private static JsonNode? Optional(JsonObject o, string field) => o.TryGetPropertyValue(field, out var node) ? node : null;

    private static string StringOf(JsonNode node, string name, string path) =>
        node is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>()
            : throw new FileFormatException(path, $"field '{name}' must be a string, found {Describe(node)}");

    private static string Name(string? prefix, string field) => prefix is null ? field : $"{prefix}.{field}";

    private static FileFormatException Missing(string path, string? prefix, string field) => new(path, $"field '{Name(prefix, field)}' is missing");

    /// <summary>A JSON node's kind in words, for errors.</summary>
    public static string Describe(JsonNode? node) => node?.GetValueKind() switch
    {
        null or JsonValueKind.Null => "null",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        var k => k.ToString()!,
    };

    private static int FirstInvalidUtf8(ReadOnlySpan<byte> utf8)
    {
        int at = 0;
        while (at < utf8.Length && System.Text.Rune.DecodeFromUtf8(utf8[at..], out _, out int used) == System.Buffers.OperationStatus.Done) at += used;
        return at;
    }

    private static string FirstSentence(string message) => message.Split(" LineNumber:")[0].Split(" Path:")[0].TrimEnd(' ', '.');
}
