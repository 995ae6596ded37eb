using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using VectorRecall.Server;

namespace VectorRecall.Tests.Server;

/// <summary>
/// The generated OpenAPI document against the server it describes: every mapped route is in it, its bodies are as strict as
/// the reader, the reader takes exactly the fields it lists, and every answer the handlers write fits its record.
/// </summary>
public class OpenApiDocumentTests(ServerFixture f) : IClassFixture<ServerFixture>
{
    private TestServer S => f.Server;

    // The wire's conventions: snake-case names, a field not given left out, and no field the record does not have.
    private static readonly JsonSerializerOptions Wire = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
    };

    private async Task<JsonNode> DocumentOf(TestServer server) => JsonNode.Parse(await server.Client.GetStringAsync("/openapi.json"))!;

    private static JsonObject Schema(JsonNode document, string name) => document["components"]!["schemas"]![name]!.AsObject();

    private static string[] Properties(JsonNode document, string name) => [.. Schema(document, name)["properties"]!.AsObject().Select(p => p.Key).Order()];

    [Fact]
    public async Task TheDocumentListsEveryRouteTheServerMaps()
    {
        var document = await DocumentOf(S);
        Assert.StartsWith("3.1", (string?)document["openapi"]);
        Assert.Equal(["/healthz", "/metrics", "/readyz", "/v1/admin/reload", "/v1/recall", "/v1/recall/batch"], document["paths"]!.AsObject().Select(p => p.Key).Order());

        // A cluster node's item routes appear only where the server maps them.
        await using var node = await f.StartAsync(hosting: new ServerHosting { WriteItemsWith = _ => throw new InvalidOperationException("no item is written here") });
        var nodeDocument = await DocumentOf(node);
        Assert.Equal(["/healthz", "/metrics", "/readyz", "/v1/admin/compact", "/v1/admin/reload", "/v1/items", "/v1/items/{id}", "/v1/recall", "/v1/recall/batch"],
            nodeDocument["paths"]!.AsObject().Select(p => p.Key).Order());
        foreach (var (path, method) in new[] { ("/v1/admin/reload", "post"), ("/v1/items", "put"), ("/v1/items/{id}", "delete"), ("/v1/admin/compact", "post") })
        {
            var operation = nodeDocument["paths"]![path]![method]!;
            Assert.NotNull(operation["security"]![0]!["bearer"]);
            Assert.Equal("The bearer token is missing or wrong", (string?)operation["responses"]!["401"]!["description"]);
        }
        Assert.Equal("http", (string?)nodeDocument["components"]!["securitySchemes"]!["bearer"]!["type"]);
        Assert.Equal(["category", "features", "id", "tags", "vector"], Properties(nodeDocument, "Item"));
        Assert.False((bool)Schema(nodeDocument, "Item")["additionalProperties"]!);
        Assert.False((bool)Schema(nodeDocument, "ItemsRequest")["additionalProperties"]!);
    }

    [Fact]
    public async Task BodiesAreAsStrictInTheDocumentAsInTheReader()
    {
        var document = await DocumentOf(S);
        var recall = document["paths"]!["/v1/recall"]!["post"]!;
        Assert.Equal("#/components/schemas/RecallRequest", (string?)recall["requestBody"]!["content"]!["application/json"]!["schema"]!["$ref"]);
        Assert.Equal("Items best first", (string?)recall["responses"]!["200"]!["description"]);
        Assert.Equal("#/components/schemas/Error", (string?)recall["responses"]!["400"]!["content"]!["application/json"]!["schema"]!["$ref"]);

        foreach (var name in new[] { "RecallRequest", "BatchRecallRequest", "User" })
            Assert.False((bool)Schema(document, name)["additionalProperties"]!, name);
        var request = Schema(document, "RecallRequest");
        Assert.Equal(["top_k", "user_id"], request["required"]!.AsArray().Select(r => (string)r!).Order());
        var topK = request["properties"]!["top_k"]!;
        Assert.Equal("integer", (string?)topK["type"]);
        Assert.Equal(1, (int)topK["minimum"]!);
        Assert.Null(topK["maximum"]);
        Assert.Equal(0, (int)request["properties"]!["search_patience"]!["minimum"]!);
        // Optional, but the reader refuses null for it; features may be null (the stored ones are used).
        Assert.Equal("integer", (string?)request["properties"]!["ef_search"]!["type"]);
        Assert.Contains("null", request["properties"]!["features"]!["type"]!.AsArray().Select(t => (string?)t));
        Assert.False((bool)request["properties"]!["exclude_seen"]!["default"]!);
        Assert.Equal("#/components/schemas/Id", (string?)request["properties"]!["user_id"]!["$ref"]);
        var id = Schema(document, "Id")["oneOf"]!.AsArray();
        Assert.Equal(["integer", "string"], id.Select(s => (string)s!["type"]!));
        Assert.Equal(RecallRequestReader.MaxIdLength, (int)id[1]!["maxLength"]!);
        Assert.Equal(1, (int)Schema(document, "BatchRecallRequest")["properties"]!["users"]!["minItems"]!);
        Assert.Equal(["semantic_ids", "tdm", "two_tower"], Schema(document, "Ready")["properties"]!["kind"]!["enum"]!.AsArray().Select(v => (string)v!).Order());
    }

    /// <summary>The fields a body's reader names when it refuses an unknown one ("this request takes a, b and c (…)").</summary>
    private static string[] FieldsTheReaderTakes(string message)
    {
        string list = message[(message.IndexOf("takes ", StringComparison.Ordinal) + 6)..];
        int aside = list.IndexOf(" (", StringComparison.Ordinal);
        if (aside >= 0) list = list[..aside];
        return [.. Regex.Matches(list, "[a-z_]+").Select(m => m.Value).Where(w => w is not ("and" or "or")).Order()];
    }

    [Theory]
    [InlineData("RecallRequest", """{"user_id": 1, "top_k": 5, "nope": 1}""")]
    [InlineData("BatchRecallRequest", """{"users": [{"user_id": 1}], "top_k": 5, "nope": 1}""")]
    [InlineData("User", """{"users": [{"user_id": 1, "nope": 1}], "top_k": 5}""")]
    [InlineData("ItemsRequest", """{"items": [], "nope": 1}""")]
    [InlineData("Item", """{"items": [{"id": 1, "nope": 1}]}""")]
    public async Task TheReaderTakesExactlyTheDocumentedFields(string schema, string body)
    {
        var document = await DocumentOf(S);
        if (!schema.StartsWith("Item")) Assert.Equal(Properties(document, schema), FieldsTheReaderTakes(Refusal(body, batch: schema != "RecallRequest")));
        else
        {
            await using var node = await f.StartAsync(hosting: new ServerHosting { WriteItemsWith = _ => throw new InvalidOperationException("no item is written here") });
            Assert.Equal(Properties(await DocumentOf(node), schema), FieldsTheReaderTakes(ItemsRefusal(body)));
        }
    }

    private static string Refusal(string body, bool batch)
    {
        var bytes = new ReadOnlySequence<byte>(System.Text.Encoding.UTF8.GetBytes(body));
        var limits = new RequestLimits(8, 500);
        var e = Assert.Throws<RequestError>(() => { if (batch) RecallRequestReader.ReadBatch(bytes, limits); else RecallRequestReader.ReadRecall(bytes, limits); });
        Assert.Contains("nope", e.Field);
        return e.Message;
    }

    private static string ItemsRefusal(string body)
    {
        var e = Assert.Throws<RequestError>(() => RecallRequestReader.ReadItems(new ReadOnlySequence<byte>(System.Text.Encoding.UTF8.GetBytes(body)), new RequestLimits(8, 500)));
        Assert.Contains("nope", e.Field);
        return e.Message;
    }

    private static ReadOnlySequence<byte> Serialised<T>(T body) => new(JsonSerializer.SerializeToUtf8Bytes(body, Wire));

    [Fact]
    public void RequestRecordsSerialisedAreReadAsSent()
    {
        var limits = new RequestLimits(8, 500);
        var recall = RecallRequestReader.ReadRecall(Serialised(new HttpSchema.RecallRequest
        {
            UserId = new("u-7"), Features = [0.5f, -1], History = [new("42"), new("sku-9")], TopK = 20, ExcludeSeen = true,
            EfSearch = 64, SearchPatience = 3, AllowPartial = true,
        }), limits);
        Assert.Equal("u-7", recall.User.UserId);
        Assert.Equal([0.5f, -1], recall.User.Features!);
        Assert.Equal(["42", "sku-9"], recall.User.History!);
        Assert.Equal((20L, true, 64L, 3L, true), (recall.TopK, recall.ExcludeSeen, recall.EfSearch, recall.SearchPatience, recall.AllowPartial));

        var batch = RecallRequestReader.ReadBatch(Serialised(new HttpSchema.BatchRecallRequest
        {
            Users = [new() { UserId = new("3") }, new() { UserId = new("new"), History = [new("7")] }], TopK = 5, EfSearch = 10,
        }), limits);
        Assert.Equal(["3", "new"], batch.Users.Select(u => u.UserId));
        Assert.Equal(["7"], batch.Users[1].History!);
        Assert.Equal((5L, 10L, (long?)null), (batch.TopK, batch.EfSearch, batch.SearchPatience));

        var items = RecallRequestReader.ReadItems(Serialised(new HttpSchema.ItemsRequest
        {
            Items = [new() { Id = new("a"), Vector = [1, 2] }, new() { Id = new("12"), Category = 3, Tags = [1, 4], Features = [0.25f] }],
        }), limits);
        Assert.Equal(["a", "12"], items.Select(i => i.Id));
        Assert.Equal([1f, 2], items[0].Vector!);
        Assert.NotNull(items[1].Description);
    }

    [Fact]
    public async Task EveryAnswerFitsItsRecord()
    {
        // Deserialising with the records' required members and no unmapped member checks both directions of each answer.
        Fits<HttpSchema.RecallResponse>(await Answer(S, "/v1/recall", """{"user_id": 3, "top_k": 5, "allow_partial": true}""", 200));
        Fits<HttpSchema.BatchRecallResponse>(await Answer(S, "/v1/recall/batch", """{"users": [{"user_id": 3}, {"user_id": 4}], "top_k": 5}""", 200));
        Fits<HttpSchema.Error>(await Answer(S, "/v1/recall", """{"user_id": 3}""", 400));
        Fits<HttpSchema.Health>(await S.Client.GetStringAsync("/healthz"));
        Fits<HttpSchema.Ready>(await S.Client.GetStringAsync("/readyz"));
        await using var admin = await f.StartAsync();
        Fits<HttpSchema.ReloadResponse>(await Answer(admin, "/v1/admin/reload", "{}", 200, ServerFixture.Token));
    }

    private static async Task<string> Answer(TestServer server, string path, string body, int status, string? token = null)
    {
        using var response = await server.PostJson(path, body, token);
        Assert.Equal(status, (int)response.StatusCode);
        return await response.Content.ReadAsStringAsync();
    }

    private static void Fits<T>(string json) => Assert.NotNull(JsonSerializer.Deserialize<T>(json, Wire));
}
