using System.Text.Json;
using System.Text.Json.Nodes;

namespace VectorRecall.IO;

/// <summary>
/// Typed reads of a JSON document's fields: each one checks the field's JSON type and range and
/// fails with a <see cref="FileFormatException"/> naming the file and the field, never with the
/// runtime's conversion message.
/// </summary>
internal static class JsonFields
{
    /// <summary>How every file's JSON is read: no duplicate keys (parsers disagree on which wins), bounded depth.</summary>
    private static readonly JsonDocumentOptions Strict = new() { AllowDuplicateProperties = false, MaxDepth = 64 };

    /// <summary>
    /// Parses a file's JSON strictly: invalid UTF-8, duplicate keys and strings that do not decode (a
    /// lone surrogate escape such as <c>"\ud800"</c>) are refused with the file named, so callers can
    /// read every key and string without meeting an exception of another kind.
    /// </summary>
    public static JsonDocument ParseDocument(ReadOnlyMemory<byte> utf8, string path, string what = "the file")
    {
        if (!System.Text.Unicode.Utf8.IsValid(utf8.Span)) throw new FileFormatException(path, $"{what} is not valid UTF-8 text (byte {FirstInvalidUtf8(utf8.Span)})");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(utf8, Strict); }
        catch (JsonException e) { throw new FileFormatException(path, $"{what} is not valid JSON: {FirstSentence(e.Message)}"); }
        // The duplicate-key check decodes every key: a lone surrogate fails it as an invalid operation.
        catch (InvalidOperationException e) { throw new FileFormatException(path, $"{what} holds text that does not decode: {FirstSentence(e.Message)}"); }
        try { CheckStrings(doc.RootElement); }
        catch (InvalidOperationException e)
        {
            doc.Dispose();
            throw new FileFormatException(path, $"{what} holds text that does not decode: {FirstSentence(e.Message)}");
        }
        return doc;
    }

    /// <summary>Parses <paramref name="utf8"/> as a JSON object, as strictly as <see cref="ParseDocument"/>.</summary>
    public static JsonObject ParseObject(ReadOnlySpan<byte> utf8, string path)
    {
        using var doc = ParseDocument(utf8.ToArray(), path);
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
            throw new FileFormatException(path, $"the root is {Describe(doc.RootElement.ValueKind)}, expected a JSON object");
        return JsonObject.Create(doc.RootElement.Clone())!;
    }

    private static void CheckStrings(JsonElement e)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.String: e.GetString(); break;
            case JsonValueKind.Array: foreach (var item in e.EnumerateArray()) CheckStrings(item); break;
            case JsonValueKind.Object:
                foreach (var p in e.EnumerateObject()) { _ = p.Name; CheckStrings(p.Value); }
                break;
        }
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
    public static string Describe(JsonNode? node) => Describe(node?.GetValueKind() ?? JsonValueKind.Null);

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Null => "null",
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
