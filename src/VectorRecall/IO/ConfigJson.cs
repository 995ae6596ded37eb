using System.Text.Json;

namespace VectorRecall.IO;

/// <summary>Reads a model configuration stored as JSON in a file's metadata: parse, then validate, each failure naming the file.</summary>
internal static class ConfigJson
{
    public static T Parse<T>(string json, string source, JsonSerializerOptions options, Action<T> validate, string what) where T : class
    {
        T? config;
        try { config = JsonSerializer.Deserialize<T>(json, options); }
        catch (JsonException e) { throw new FileFormatException(source, $"{what} is not valid JSON: {e.Message}"); }
        if (config is null) throw new FileFormatException(source, $"{what} is empty");
        try { validate(config); }
        catch (ArgumentException e) { throw new FileFormatException(source, $"{what} is invalid: {e.Message}"); }
        return config;
    }
}
