using System.Net;
using System.Net.Sockets;
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

    public async Task InitializeAsync()
    {
        string bundle = Model.SaveFlatBundle(_dir.File("flat-bundle"));
        var set = ShardSet.Split(bundle, 4, _dir.File("shards"));
        int primary = FreePort();
        foreach (int node in new[] { 0, 1 })
        {
            var options = new ClusterNodeOptions
            {
                ShardSetPath = set.Directory, SiloPort = node == 0 ? primary : FreePort(), GatewayPort = FreePort(),
                PrimarySiloPort = node == 0 ? 0 : primary, Replicas = 2, ReplicaDeadline = TimeSpan.FromSeconds(30),
            };
            // A generous request timeout: the first queries activate the shard replicas while other tests share the cores.
            var (app, _) = ClusterNode.Build(new ServerOptions { BundlePath = "", Urls = "http://127.0.0.1:0", RequestTimeout = TimeSpan.FromSeconds(30) }, options);
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

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private async Task<(int Status, JsonObject Body)> Post(int node, string path, string json)
    {
        using var response = await _clients[node].PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        return ((int)response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject());
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
