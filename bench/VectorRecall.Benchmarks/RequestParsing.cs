using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using BenchmarkDotNet.Attributes;
using VectorRecall.Server;

namespace VectorRecall.Benchmarks;

/// <summary>
/// A <c>/v1/recall</c> body through the server's strict reader (<see cref="RecallRequestReader"/>) against System.Text.Json's
/// source-generated deserializer at its strictest (unknown fields, duplicates and missing required fields refused; ids as
/// integers or strings through a converter) — the library the strict reader would be replaced by. Run with
/// <c>dotnet run -c Release --project bench/VectorRecall.Benchmarks -- --filter *RequestParsing*</c>.
/// </summary>
[MemoryDiagnoser]
public class RequestParsing
{
    private static readonly RequestLimits Limits = new(1024, 1000);
    private byte[] _body = [];

    /// <summary>Items in the request's own <c>history</c>: none (a known user) or a new user's recent items.</summary>
    [Params(0, 50)]
    public int History { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var history = History == 0 ? "" : $", \"history\": [{string.Join(", ", Enumerable.Range(0, History).Select(i => i % 2 == 0 ? $"{100_000 + i}" : $"\"item-{i}\""))}]";
        _body = Encoding.UTF8.GetBytes($"{{\"user_id\": 100846, \"top_k\": 50, \"exclude_seen\": true, \"ef_search\": 200{history}}}");
        // Both read the same request.
        var strict = Strict();
        var library = Library();
        if (strict.User.UserId != library.UserId.Text || strict.TopK != library.TopK || (strict.User.History?.Length ?? 0) != (library.History?.Length ?? 0))
            throw new InvalidOperationException("the two readers disagree");
        // And the library is held to the same refusals: an unknown field, a field twice, a required field missing.
        foreach (var bad in new[] { "{\"user_id\": 1, \"top_k\": 5, \"topk\": 3}", "{\"user_id\": 1, \"top_k\": 5, \"top_k\": 6}", "{\"user_id\": 1}" })
        {
            try
            {
                JsonSerializer.Deserialize(Encoding.UTF8.GetBytes(bad), RecallBodyContext.Default.RecallBody);
                throw new InvalidOperationException($"System.Text.Json accepted {bad}");
            }
            catch (JsonException) { }
        }
    }

    [Benchmark(Baseline = true)]
    public RecallRequest Strict() => RecallRequestReader.ReadRecall(new ReadOnlySequence<byte>(_body), Limits);

    [Benchmark]
    public RecallBody Library() => JsonSerializer.Deserialize(_body, RecallBodyContext.Default.RecallBody) ?? throw new JsonException("null body");
}

/// <summary>The <c>/v1/recall</c> body as a record for System.Text.Json.</summary>
public sealed record RecallBody(
    [property: JsonPropertyName("user_id")] ExternalId UserId,
    [property: JsonPropertyName("top_k")] long TopK,
    [property: JsonPropertyName("exclude_seen")] bool ExcludeSeen = false,
    [property: JsonPropertyName("ef_search")] long? EfSearch = null,
    [property: JsonPropertyName("search_patience")] long? SearchPatience = null,
    [property: JsonPropertyName("allow_partial")] bool AllowPartial = false,
    [property: JsonPropertyName("features")] float[]? Features = null,
    [property: JsonPropertyName("history")] ExternalId[]? History = null);

/// <summary>A user or item id as the server holds it: a JSON integer as its digits, a JSON string as given.</summary>
[JsonConverter(typeof(ExternalIdConverter))]
public readonly record struct ExternalId(string Text);

public sealed class ExternalIdConverter : JsonConverter<ExternalId>
{
    public override ExternalId Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.TokenType switch
    {
        JsonTokenType.Number when reader.TryGetInt64(out long id) => new ExternalId(id.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        JsonTokenType.String => new ExternalId(reader.GetString()!),
        _ => throw new JsonException("an id is an integer or a string"),
    };

    public override void Write(Utf8JsonWriter writer, ExternalId value, JsonSerializerOptions options) => writer.WriteStringValue(value.Text);
}

[JsonSourceGenerationOptions(UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow, AllowDuplicateProperties = false,
    RespectNullableAnnotations = true, RespectRequiredConstructorParameters = true)]
[JsonSerializable(typeof(RecallBody))]
public partial class RecallBodyContext : JsonSerializerContext;
