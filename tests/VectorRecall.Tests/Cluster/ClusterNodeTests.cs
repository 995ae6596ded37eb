using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using VectorRecall.Cluster;
using VectorRecall.Retrieval;
using VectorRecall.Serving;
using VectorRecall.Server;
using VectorRecall.Towers;

namespace VectorRecall.Tests.Cluster;

/// <summary>
/// Two cluster nodes in this process (localhost clustering, each a silo and the HTTP routes): over flat shards, either
/// node's /v1/recall gives the items and scores a single exact index gives, and bad requests get the serve routes' errors.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterNodeTests : IAsyncLifetime
{
    private readonly TempDir _dir = new();
    private readonly List<WebApplication> _nodes = [];
    private readonly List<HttpClient> _clients = [];
    private static TrainedSmallModel Model => TrainedSmallModel.Shared;
    private const string Token = "test-admin-token";

    public async Task InitializeAsync()
    {
        string bundle = Model.SaveFlatBundle(_dir.File("flat-bundle"));
        var set = ShardSet.Split(bundle, 4, _dir.File("shards"));
        int primary = LocalProcesses.FreePort();
        foreach (int node in new[] { 0, 1 })
        {
            var options = new ClusterNodeOptions
            {
                ShardSetPath = set.Directory, SiloPort = node == 0 ? primary : LocalProcesses.FreePort(), GatewayPort = LocalProcesses.FreePort(),
                PrimarySiloPort = node == 0 ? 0 : primary, Replicas = 2, ReplicaDeadline = TimeSpan.FromSeconds(30),
            };
            // A generous request timeout: the first queries activate the shard replicas while other tests share the cores.
            var (app, _) = ClusterNode.Build(new ServerOptions { BundlePath = "", Urls = "http://127.0.0.1:0", RequestTimeout = TimeSpan.FromSeconds(30), AdminToken = Token }, options);
            await app.StartAsync();
            _nodes.Add(app);
            _clients.Add(new HttpClient { BaseAddress = new Uri(RecallServer.Addresses(app)[0]), Timeout = TimeSpan.FromSeconds(60) });
        }
        // Every replica activated (and the second node joined) before the tests look at answers.
        for (int node = 0; node < 2; node++) Assert.Equal(200, (await Post(node, "/v1/recall", """{"user_id": 0, "top_k": 10}""")).Status);
    }

    public async Task DisposeAsync()
    {
        foreach (var c in _clients) c.Dispose();
        foreach (var app in Enumerable.Reverse(_nodes))
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
        _dir.Dispose();
    }


    private async Task<(int Status, JsonObject Body)> Post(int node, string path, string json)
    {
        using var response = await _clients[node].PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        return ((int)response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject());
    }

    private async Task<(int Status, JsonObject Body)> Send(int node, HttpMethod method, string path, string? json, string? token = Token)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        if (token is not null) request.Headers.Authorization = new("Bearer", token);
        using var response = await _clients[node].SendAsync(request);
        return ((int)response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject());
    }

    private static string[] Ids(JsonObject body) => [.. body["item_ids"]!.AsArray().Select(n => n!.ToJsonString().Trim('"'))];

    [Fact]
    public async Task AnItemPutOnOneNodeIsRecalledFromTheOtherUntilDeleted()
    {
        using var single = RecallService.FromBundle(_dir.File("flat-bundle"));
        var user = single.EncodeUsers([7]).Row(0).ToArray();
        string vector = string.Join(",", user.Select(v => (v * 1000f).ToString("R", System.Globalization.CultureInfo.InvariantCulture)));
        var (status, body) = await Send(0, HttpMethod.Put, "/v1/items", $$"""{"items": [{"id": "sku-new-1", "vector": [{{vector}}]}, {"id": 990001, "vector": [{{vector}}]}]}""");
        Assert.Equal(200, status);
        Assert.Equal("sku-new-1", body["items"]![0]!["id"]!.GetValue<string>());
        Assert.Equal(990001, body["items"]![1]!["id"]!.GetValue<long>());
        Assert.False(body["items"]![0]!["replaced"]!.GetValue<bool>());

        (status, body) = await Post(1, "/v1/recall", """{"user_id": 7, "top_k": 5}""");
        Assert.Equal(200, status);
        Assert.Equal(["990001", "sku-new-1"], Ids(body)[..2].Order());
        // Integer ids come back as JSON numbers, string ids as strings, as for the bundle's own items.
        Assert.Contains(body["item_ids"]!.AsArray(), n => n!.GetValueKind() == System.Text.Json.JsonValueKind.Number && n.GetValue<long>() == 990001);

        (status, body) = await Send(1, HttpMethod.Delete, "/v1/items/sku-new-1", null);
        Assert.Equal(200, status);
        Assert.True(body["deleted"]!.GetValue<bool>());
        Assert.DoesNotContain("sku-new-1", Ids((await Post(0, "/v1/recall", """{"user_id": 7, "top_k": 5}""")).Body));
        Assert.Equal(404, (await Send(0, HttpMethod.Delete, "/v1/items/sku-new-1", null)).Status);
        Assert.Equal(200, (await Send(0, HttpMethod.Delete, "/v1/items/990001", null)).Status);
        Assert.Matches("vrecall_http_requests_total\\{route=\"items\",status=\"200\"\\} [1-9]", await _clients[0].GetStringAsync("/metrics"));
    }

    [Fact]
    public async Task AnItemPutByItsDescriptionGetsTheItemTowersVector()
    {
        using var single = RecallService.FromBundle(_dir.File("flat-bundle"));
        var encoder = ServingBundle.LoadItemEncoder(_dir.File("flat-bundle"))!;
        var user = single.EncodeUsers([7]).Row(0).ToArray();
        var items = single.LoadItemVectors();
        var catalog = Model.Data.Items;
        // Of a few catalogue items described afresh, the one user 7 ranks highest among the bundle's items, so a short top-k shows it.
        var candidates = Enumerable.Range(0, 200).Select(i => new ItemDescription(catalog.Categories[i], catalog.TagsOf(i).ToArray(), catalog.Features.Row(i).ToArray())).ToArray();
        var vectors = encoder.Encode(candidates);
        var (best, rank, score) = Enumerable.Range(0, candidates.Length).Select(c =>
        {
            float s = TensorPrimitives.Dot(user, vectors[c]);
            return (c, Enumerable.Range(0, items.Rows).Count(r => TensorPrimitives.Dot(user, items.Row(r)) > s), s);
        }).MinBy(t => t.Item2);
        Assert.True(rank < 400, $"the best described item ranks {rank}");
        var d = candidates[best];
        string Numbers<T>(IEnumerable<T> values) where T : IFormattable => string.Join(",", values.Select(v => v.ToString(null, System.Globalization.CultureInfo.InvariantCulture)));
        var (status, body) = await Send(0, HttpMethod.Put, "/v1/items", $$"""{"items": [{"id": "described-1", "category": {{d.Category}}, "tags": [{{Numbers(d.Tags!)}}], "features": [{{Numbers(d.Features!.Select(f => (double)f))}}]}]}""");
        Assert.Equal(200, status);

        (status, body) = await Post(1, "/v1/recall", $$"""{"user_id": 7, "top_k": {{rank + 3}}}""");
        Assert.Equal(200, status);
        int at = Array.IndexOf(Ids(body), "described-1");
        Assert.True(at >= 0, "the described item is recalled");
        Assert.Equal(score, body["scores"]![at]!.GetValue<float>(), 1e-3f);
        Assert.Equal(200, (await Send(0, HttpMethod.Delete, "/v1/items/described-1", null)).Status);
    }

    [Theory]
    [InlineData(null, """{"items": []}""", 401, "authorization")]
    [InlineData("wrong", """{"items": []}""", 401, "authorization")]
    [InlineData(Token, """{"items": [{"id": "a", "vector": [1, 2]}]}""", 400, "items[0].vector")]
    [InlineData(Token, """{"items": [{"id": "a", "features": [1, 2]}]}""", 400, "items[0].category")]
    [InlineData(Token, """{"items": [{"id": "a", "category": 1, "tags": [2], "features": [1, 2]}]}""", 400, "items[0].features")]
    [InlineData(Token, """{"items": [{"id": "a", "category": 100, "tags": [2], "features": []}]}""", 400, "items[0].category")]
    [InlineData(Token, """{"items": [{"id": "a", "category": -1}]}""", 400, "items[0].category")]
    [InlineData(Token, """{"items": [{"id": "a", "category": 1.5}]}""", 400, "items[0].category")]
    [InlineData(Token, """{"items": [{"id": "a", "category": 1, "tags": [2, 5000]}]}""", 400, "items[0].tags[1]")]
    [InlineData(Token, """{"items": [{"id": "a", "category": 1, "tags": [-2]}]}""", 400, "items[0].tags[0]")]
    [InlineData(Token, """{"items": [{"id": "a", "category": 1, "tags": "red"}]}""", 400, "items[0].tags")]
    [InlineData(Token, """{"items": [{"id": "a", "category": 1, "vector": [1]}]}""", 400, "items[0].vector")]
    [InlineData(Token, """{"items": [{"id": "a"}]}""", 400, "items[0].vector")]
    [InlineData(Token, """{"items": [{"vector": []}]}""", 400, "items[0].id")]
    [InlineData(Token, """{"items": [{"id": "", "vector": []}]}""", 400, "items[0].id")]
    [InlineData(Token, """{"items": [{"id": "a", "vector": [1e39]}]}""", 400, "items[0].vector[0]")]
    [InlineData(Token, """{"items": [{"id": "a", "vector": [1], "colour": 2}]}""", 400, "items[0].colour")]
    [InlineData(Token, """{"items": {}}""", 400, "items")]
    [InlineData(Token, """{"item": []}""", 400, "item")]
    [InlineData(Token, """{}""", 400, "items")]
    [InlineData(Token, """[1]""", 400, "body")]
    [InlineData(Token, """{"items": [""", 400, "items")]
    public async Task BadItemChangesAreRefusedNamingTheField(string? token, string json, int expected, string field)
    {
        var (status, body) = await Send(0, HttpMethod.Put, "/v1/items", json, token);
        Assert.Equal(expected, status);
        Assert.Equal(field, body["field"]!.GetValue<string>());
    }

    [Fact]
    public async Task TheAdminCompactRouteFoldsTheLiveItemsInWhileServing()
    {
        string vector = string.Join(",", Enumerable.Repeat("0.5", Model.Config.EmbeddingDim));
        Assert.Equal(200, (await Send(0, HttpMethod.Put, "/v1/items", $$"""{"items": [{"id": "kept", "vector": [{{vector}}]}]}""")).Status);
        Assert.Equal(401, (await Send(1, HttpMethod.Post, "/v1/admin/compact", null, token: null)).Status);
        Assert.Equal("resume", (await Send(1, HttpMethod.Post, "/v1/admin/compact?resume=perhaps", null)).Body["field"]!.GetValue<string>());

        var (status, body) = await Send(1, HttpMethod.Post, "/v1/admin/compact", null);
        Assert.Equal(200, status);
        Assert.Equal(1, body["generation"]!.GetValue<long>());
        Assert.Equal(1, body["live_items"]!.GetValue<long>());
        Assert.Equal(8, body["replicas"]!.GetValue<int>());
        Assert.Equal(200, (await Post(0, "/v1/recall", """{"user_id": 3, "top_k": 10}""")).Status);

        // A set left sealed (a compaction that stopped) is reported, and finished on request.
        Assert.True(ShardUpdateLog.Seal(_dir.File("shards")));
        (status, body) = await Send(0, HttpMethod.Post, "/v1/admin/compact", null);
        Assert.Equal(409, status);
        Assert.Contains("resume=true", body["error"]!.GetValue<string>());
        (status, body) = await Send(0, HttpMethod.Post, "/v1/admin/compact?resume=true", null);
        Assert.Equal(200, status);
        Assert.Equal(2, body["generation"]!.GetValue<long>());
        Assert.Equal(200, (await Send(0, HttpMethod.Delete, "/v1/items/kept", null)).Status);
    }

    [Fact]
    public async Task DeletesNeedTheTokenAndASaneId()
    {
        Assert.Equal(401, (await Send(0, HttpMethod.Delete, "/v1/items/12", null, token: null)).Status);
        Assert.Equal(400, (await Send(0, HttpMethod.Delete, "/v1/items/" + new string('x', 300), null)).Status);
        Assert.Equal(404, (await Send(0, HttpMethod.Delete, "/v1/items/no-such-item", null)).Status);
        Assert.Equal(405, (await Send(0, HttpMethod.Post, "/v1/items", "{}")).Status);
    }

    [Fact]
    public async Task EitherNodeAnswersAsOneExactIndexDoes()
    {
        using var single = RecallService.FromBundle(_dir.File("flat-bundle"));
        foreach (int user in new[] { 0, 7, 123 })
            foreach (bool exclude in new[] { false, true })
            {
                var expected = single.Recall(new UserQuery(user), 50, exclude);
                for (int node = 0; node < 2; node++)
                {
                    var (status, body) = await Post(node, "/v1/recall", $$"""{"user_id": {{user}}, "top_k": 50, "exclude_seen": {{(exclude ? "true" : "false")}}}""");
                    Assert.Equal(200, status);
                    Assert.Equal(expected.ItemIds, body["item_ids"]!.AsArray().Select(n => n!.GetValue<long>()));
                    Assert.Equal(expected.Scores, body["scores"]!.AsArray().Select(n => n!.GetValue<float>()));
                }
            }
        var (batchStatus, batch) = await Post(1, "/v1/recall/batch", """{"users": [{"user_id": 7}, {"user_id": 8}], "top_k": 10}""");
        Assert.Equal(200, batchStatus);
        Assert.Equal(single.Recall(new UserQuery(8), 10).ItemIds, batch["results"]![1]!["item_ids"]!.AsArray().Select(n => n!.GetValue<long>()));
    }

    [Fact]
    public async Task MetricsCountEachShardsRequests()
    {
        Assert.Equal(200, (await Post(0, "/v1/recall", """{"user_id": 3, "top_k": 10}""")).Status);
        string metrics = await _clients[0].GetStringAsync("/metrics");
        for (int shard = 0; shard < 4; shard++) Assert.Matches("vrecall_shard_requests_total\\{shard=\"" + shard + "\"\\} [1-9]", metrics);
        Assert.Contains("vrecall_shard_failovers_total{shard=\"0\"} 0", metrics);
        Assert.Matches("vrecall_shard_apply_misses_total [0-9]+\n", metrics);
        Assert.Matches("vrecall_cluster_queries_total [1-9]", metrics);
    }

    [Fact]
    public async Task BadRequestsGetTheServeRoutesErrors()
    {
        var (status, body) = await Post(0, "/v1/recall", """{"user_id": 7, "top_k": 0}""");
        Assert.Equal(400, status);
        Assert.Equal("top_k", body["field"]!.GetValue<string>());
        (status, body) = await Post(1, "/v1/recall", """{"user_id": 99999999, "top_k": 5}""");
        Assert.Equal(400, status);
        Assert.Equal("user_id", body["field"]!.GetValue<string>());
        (status, _) = await Post(0, "/v1/recall", "{ not json");
        Assert.Equal(400, status);
    }
}
