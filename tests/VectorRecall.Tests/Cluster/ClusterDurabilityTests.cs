using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using VectorRecall.Serving;

namespace VectorRecall.Tests.Cluster;

/// <summary>
/// Two <c>vrecall cluster</c> processes with their membership in a real Redis: items acknowledged by <c>PUT /v1/items</c>
/// while one node is killed (SIGKILL: no goodbye, nothing flushed on the way out) are all recalled, from both nodes,
/// after it restarts — acknowledged changes were on disk, and the shards that lived on the dead node replay their logs.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterDurabilityTests
{
    private const string Token = "durability-token";
    private static TrainedSmallModel Model => TrainedSmallModel.Shared;
    private readonly ConcurrentQueue<string> _output = new();


    [RedisFact]
    public async Task ItemsAcknowledgedBeforeANodeIsKilledAreAllRecalledAfterItRestarts()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var dir = new TempDir();
        string bundle = Model.SaveFlatBundle(dir.File("flat-bundle"));
        var set = ShardSet.Split(bundle, 4, dir.File("shards"));
        int redisPort = LocalProcesses.FreePort();
        using var redis = Start(RedisFactAttribute.Path!, ["--port", redisPort.ToString(CultureInfo.InvariantCulture), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"]);
        var processes = new List<Process> { redis };
        try
        {
            await WaitForPort(redisPort);
            string clusterId = $"durability-{Guid.NewGuid():N}";
            var ports = new[] { (LocalProcesses.FreePort(), LocalProcesses.FreePort(), LocalProcesses.FreePort()), (LocalProcesses.FreePort(), LocalProcesses.FreePort(), LocalProcesses.FreePort()) };
            Process Node(int n) => Start(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet",
                [Path.Combine(AppContext.BaseDirectory, "vrecall.dll"), "cluster", "--bundle-store", set.Directory, "--redis", $"127.0.0.1:{redisPort}",
                 "--cluster-id", clusterId, "--silo-port", $"{ports[n].Item1}", "--gateway-port", $"{ports[n].Item2}", "--urls", $"http://127.0.0.1:{ports[n].Item3}",
                 "--request-timeout-ms", "30000"]);
            var nodes = new[] { Node(0), Node(1) };
            processes.AddRange(nodes);
            using var a = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{ports[0].Item3}"), Timeout = TimeSpan.FromSeconds(60) };
            using var b = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{ports[1].Item3}"), Timeout = TimeSpan.FromSeconds(60) };
            await WaitUntilAnswering(a);
            await WaitUntilAnswering(b);

            using var service = RecallService.FromBundle(bundle);
            const int items = 40;
            var users = service.EncodeUsers([.. Enumerable.Range(0, items).Select(u => (long)u)]);
            // Each change is written until it is acknowledged, as a client does: a shard whose writer lived on the dead node
            // answers 503 until the cluster has declared it dead and placed the writer elsewhere (writing again is safe).
            var acknowledged = new List<int>();
            var refusals = 0;
            for (int u = 0; u < items; u++)
            {
                if (u == items / 3) Assert.Equal(0, LocalProcesses.Signal(nodes[1].Id, 9));
                string vector = string.Join(",", users.Row(u).ToArray().Select(v => (v * 1000f).ToString("R", CultureInfo.InvariantCulture)));
                for (var until = DateTime.UtcNow.AddSeconds(90); !acknowledged.Contains(u) && DateTime.UtcNow < until;)
                {
                    using var put = new HttpRequestMessage(HttpMethod.Put, "/v1/items") { Content = new StringContent($$"""{"items": [{"id": "durable-{{u}}", "vector": [{{vector}}]}]}""", Encoding.UTF8, "application/json") };
                    put.Headers.Authorization = new("Bearer", Token);
                    using var response = await a.SendAsync(put);
                    if (response.StatusCode == HttpStatusCode.OK) acknowledged.Add(u);
                    else
                    {
                        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
                        refusals++;
                        await Task.Delay(250);
                    }
                }
            }
            Assert.True(acknowledged.Count == items, $"{acknowledged.Count} of {items} changes acknowledged in 90 s each ({refusals} refusals):\n{Log()}");

            nodes[1] = Node(1);
            processes.Add(nodes[1]);
            await WaitUntilAnswering(b);
            foreach (int u in acknowledged)
                foreach (var client in new[] { a, b })
                {
                    var top = await RecallFirst(client, u);
                    Assert.True(top == $"durable-{u}", $"user {u}: first item {top}, not the acknowledged durable-{u}\n{Log()}");
                }
        }
        finally
        {
            foreach (var p in processes)
                if (!p.HasExited) p.Kill(entireProcessTree: true);
            foreach (var p in processes) p.Dispose();
        }
    }

    private Process Start(string file, string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["VRECALL_ADMIN_TOKEN"] = Token;
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) _output.Enqueue($"[{process.Id}] {e.Data}"); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) _output.Enqueue($"[{process.Id}] {e.Data}"); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private string Log() => string.Join("\n", _output.TakeLast(60));

    /// <summary>The first item recalled for a user, asked again while the cluster settles (a shard re-activating elsewhere answers 503 meanwhile).</summary>
    private async Task<string> RecallFirst(HttpClient client, int user)
    {
        var until = DateTime.UtcNow.AddSeconds(90);
        while (true)
        {
            using var response = await client.PostAsync("/v1/recall", new StringContent($$"""{"user_id": {{user}}, "top_k": 1}""", Encoding.UTF8, "application/json"));
            string body = await response.Content.ReadAsStringAsync();
            if (response.StatusCode == HttpStatusCode.OK) return JsonNode.Parse(body)!["item_ids"]![0]!.ToJsonString().Trim('"');
            if (DateTime.UtcNow > until) return $"(status {(int)response.StatusCode}: {body})";
            await Task.Delay(250);
        }
    }

    private async Task WaitUntilAnswering(HttpClient client)
    {
        var until = DateTime.UtcNow.AddSeconds(120);
        while (true)
        {
            try
            {
                using var response = await client.PostAsync("/v1/recall", new StringContent("""{"user_id": 0, "top_k": 5}""", Encoding.UTF8, "application/json"));
                if (response.StatusCode == HttpStatusCode.OK) return;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) { }
            Assert.True(DateTime.UtcNow < until, $"the node at {client.BaseAddress} never answered:\n{Log()}");
            await Task.Delay(250);
        }
    }

    private static async Task WaitForPort(int port)
    {
        for (int i = 0; ; i++)
        {
            try
            {
                using var tcp = new TcpClient();
                await tcp.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) when (i < 100) { await Task.Delay(100); }
        }
    }

}
