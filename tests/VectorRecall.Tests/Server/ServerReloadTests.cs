using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using VectorRecall.Server;

namespace VectorRecall.Tests.Server;

/// <summary>Hot reload under load, corrupt bundles, folder watching, and SIGTERM while requests run.</summary>
public class ServerReloadTests(ServerFixture f) : IClassFixture<ServerFixture>
{
    private static async Task<string> VersionOf(TestServer s) => (string)(await s.Get("/readyz"))["model_version"]!;

    [Fact]
    public async Task AWatchingServerStartedBeforeAnyBundleWaitsNotReadyThenServesWhatIsPublished()
    {
        using var dir = new TempDir();
        string bundle = dir.File("bundles/current");
        var options = new ServerOptions { BundlePath = bundle, Urls = "http://127.0.0.1:0", Watch = true, WatchInterval = TimeSpan.FromMilliseconds(100) };
        var (app, server) = RecallServer.Build(options, logging => logging.ClearProviders());
        await using (app)
        {
            await app.StartAsync();
            using var client = new HttpClient { BaseAddress = new Uri(RecallServer.Addresses(app)[0]) };
            Assert.Null(server.Host.Current);
            using (var ready = await client.GetAsync("/readyz"))
            {
                Assert.Equal(503, (int)ready.StatusCode);
                var body = await TestServer.JsonOf(ready);
                Assert.Equal("waiting for bundle", (string)body["status"]!);
                Assert.DoesNotContain(dir.Path, body.ToJsonString());
            }
            Assert.Equal(200, (int)(await client.GetAsync("/healthz")).StatusCode);
            Assert.Equal(200, (int)(await client.GetAsync("/metrics")).StatusCode);
            using (var recall = await client.PostAsync("/v1/recall", new StringContent("""{"user_id": 1, "top_k": 5}""", System.Text.Encoding.UTF8, "application/json")))
            {
                Assert.Equal(503, (int)recall.StatusCode);
                Assert.Equal("bundle", (string)(await TestServer.JsonOf(recall))["field"]!);
            }
            Directory.CreateDirectory(dir.File("bundles"));
            f.Republish(bundle);
            var clock = Stopwatch.StartNew();
            while (server.Host.Current is null && clock.Elapsed < TimeSpan.FromSeconds(30)) await Task.Delay(50);
            using var answer = await client.PostAsync("/v1/recall", new StringContent("""{"user_id": 1, "top_k": 5}""", System.Text.Encoding.UTF8, "application/json"));
            Assert.Equal(200, (int)answer.StatusCode);
            Assert.Equal(200, (int)(await client.GetAsync("/readyz")).StatusCode);
            await app.StopAsync();
        }
    }

    [Fact]
    public void WithoutWatchingAMissingBundleStillFailsTheStart()
    {
        using var dir = new TempDir();
        var options = new ServerOptions { BundlePath = dir.File("none"), Urls = "http://127.0.0.1:0" };
        Assert.ThrowsAny<IOException>(() => RecallServer.Build(options, logging => logging.ClearProviders()));
    }

    [Fact]
    public async Task ReloadUnderConcurrentRequestsFailsNoneAndChangesTheVersion()
    {
        await using var s = await f.StartAsync();
        string before = await VersionOf(s);
        var failures = new ConcurrentQueue<string>();
        var versions = new ConcurrentDictionary<string, int>();
        using var stop = new CancellationTokenSource();
        int answered = 0;
        var clients = Enumerable.Range(0, 4).Select(c => Task.Run(async () =>
        {
            for (int i = 0; !stop.IsCancellationRequested; i++)
            {
                string path = i % 4 == 3 ? "/v1/recall/batch" : "/v1/recall";
                string body = i % 4 == 3 ? $$"""{"users": [{"user_id": {{i % 300}}}, {"user_id": {{c}}}], "top_k": 50}""" : $$"""{"user_id": {{(i * 7 + c) % 300}}, "top_k": 50, "exclude_seen": true}""";
                try
                {
                    var (status, answer) = await s.Call(path, body);
                    if (status != 200) failures.Enqueue($"{status} {answer}");
                    else versions.AddOrUpdate((string)answer["model_version"]!, 1, (_, n) => n + 1);
                    Interlocked.Increment(ref answered);
                }
                catch (Exception e) { failures.Enqueue(e.Message); }
            }
        })).ToArray();

        var outcomes = new List<JsonObject>();
        for (int r = 0; r < 3; r++)
        {
            await Task.Delay(150);
            f.Republish(s.Bundle);
            var (status, outcome) = await s.Call("/v1/admin/reload", "", ServerFixture.Token);
            Assert.Equal(200, status);
            outcomes.Add(outcome);
        }
        await Task.Delay(150);
        await stop.CancelAsync();
        await Task.WhenAll(clients);

        Assert.Empty(failures);
        Assert.True(answered > 20, $"only {answered} requests ran during the reloads");
        string after = await VersionOf(s);
        Assert.NotEqual(before, after);
        Assert.Equal(after, (string?)outcomes[^1]["model_version"]);
        Assert.True(versions.Count >= 2, $"clients saw versions {string.Join(", ", versions.Keys)}");
        Assert.All(outcomes, o => Assert.True(o["reloaded"]!.GetValue<bool>()));
        Assert.Equal(3, s.Server.Host.ReloadsSucceeded);
    }

    [Fact]
    public async Task ALeaseKeepsASwappedOutBundleAliveUntilReleased()
    {
        await using var s = await f.StartAsync();
        var lease = s.Server.Host.Acquire();
        f.Republish(s.Bundle);
        Assert.True((await s.Server.Host.ReloadAsync(default)).Succeeded);
        Assert.NotSame(lease.Bundle, s.Server.Host.Current);
        Assert.False(lease.Bundle.IsDisposed);
        Assert.Equal(5, lease.Service.Recall(3, default, 5).ItemIds.Length);  // the old index still answers
        lease.Dispose();
        Assert.True(lease.Bundle.IsDisposed);
    }

    [Fact]
    public async Task ACorruptBundleOnReloadLeavesTheOldOneServing()
    {
        await using var s = await f.StartAsync();
        string before = await VersionOf(s);
        var (_, expected) = await s.Call("/v1/recall", """{"user_id": 5, "top_k": 20}""");

        string index = Path.Combine(s.Bundle, "items.vrix");
        var bytes = File.ReadAllBytes(index);
        bytes[bytes.Length / 2] ^= 0x40;
        File.WriteAllBytes(index, bytes);
        var (status, outcome) = await s.Call("/v1/admin/reload", "", ServerFixture.Token);
        Assert.Equal(422, status);
        Assert.False(outcome["reloaded"]!.GetValue<bool>());
        Assert.Equal("bundle", (string?)outcome["field"]);
        Assert.Contains("items.vrix", (string?)outcome["error"]);
        Assert.Equal(before, (string?)outcome["model_version"]);

        File.Delete(Path.Combine(s.Bundle, "manifest.json"));
        Assert.Equal(422, (await s.Call("/v1/admin/reload", "", ServerFixture.Token)).Status);

        var (recallStatus, answer) = await s.Call("/v1/recall", """{"user_id": 5, "top_k": 20}""");
        Assert.Equal(200, recallStatus);
        Assert.Equal(expected["item_ids"]!.ToJsonString(), answer["item_ids"]!.ToJsonString());
        Assert.Equal(before, await VersionOf(s));
        Assert.Contains("vrecall_reloads_total{result=\"failed\"} 2", await s.Client.GetStringAsync("/metrics"));
    }

    [Fact]
    public async Task WatchingReloadsARepublishedBundleAndSkipsABrokenOne()
    {
        await using var s = await f.StartAsync(o => o with { Watch = true, WatchInterval = TimeSpan.FromMilliseconds(100) });
        string before = await VersionOf(s);
        f.Republish(s.Bundle);
        string after = before;
        for (var clock = Stopwatch.StartNew(); after == before && clock.Elapsed < TimeSpan.FromSeconds(30); await Task.Delay(100))
            after = await VersionOf(s);
        Assert.NotEqual(before, after);

        // A manifest that lists a file with the wrong checksum: tried once, refused, the last good version keeps serving.
        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(s.Bundle, "manifest.json")))!;
        manifest["files"]!["item_ids.npy"]!["crc32c"] = "00000000";
        // Written beside and renamed into place, as a publisher does: a watcher that read a half-written file would count a second failure.
        File.WriteAllText(Path.Combine(s.Bundle, "manifest.json.new"), manifest.ToJsonString());
        File.Move(Path.Combine(s.Bundle, "manifest.json.new"), Path.Combine(s.Bundle, "manifest.json"), overwrite: true);
        for (var clock = Stopwatch.StartNew(); s.Server.Host.ReloadsFailed == 0 && clock.Elapsed < TimeSpan.FromSeconds(30); await Task.Delay(100)) { }
        await Task.Delay(500);
        Assert.Equal(1, s.Server.Host.ReloadsFailed);
        var ready = await s.Get("/readyz");
        Assert.Equal(after, (string?)ready["model_version"]);
        Assert.Contains("item_ids.npy", (string?)ready["last_reload_error"]);
        Assert.Equal(200, (await s.Call("/v1/recall", """{"user_id": 5, "top_k": 20}""")).Status);
    }


    [Fact]
    public async Task SigtermStopsAcceptingDrainsRequestsInFlightAndExitsZero()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return;
        using var dir = new TempDir();
        ServerFixture.CopyBundle(f.Model.BundlePath, dir.File("bundle"));
        string vrecall = Path.Combine(AppContext.BaseDirectory, "vrecall.dll");
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in new[] { vrecall, "serve", "--bundle", dir.File("bundle"), "--urls", "http://127.0.0.1:0", "--shutdown-timeout-s", "30", "--request-timeout-ms", "15000" }) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var output = new ConcurrentQueue<string>();
        var listening = new TaskCompletionSource<Uri>();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            output.Enqueue(e.Data);
            if (e.Data.StartsWith("listening on ", StringComparison.Ordinal)) listening.TrySetResult(new Uri(e.Data["listening on ".Length..]));
        };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) output.Enqueue(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var address = await listening.Task.WaitAsync(TimeSpan.FromSeconds(60));
            using var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };
            Assert.Equal(200, (int)(await client.GetAsync("/readyz")).StatusCode);

            // Three requests whose bodies are half sent when the signal arrives, finished a second later.
            var release = new TaskCompletionSource();
            var halfSent = Enumerable.Range(0, 3).Select(_ => new TaskCompletionSource()).ToArray();
            var inFlight = Enumerable.Range(0, 3).Select(i => SlowPost.SendAsync(address, "/v1/recall", $$"""{"user_id": {{i}}, "top_k": 10}""", release.Task, halfSent[i])).ToArray();
            await Task.WhenAll(halfSent.Select(h => h.Task)).WaitAsync(TimeSpan.FromSeconds(30));
            await Task.Delay(200);  // let the server start reading them
            Assert.Equal(0, LocalProcesses.Signal(process.Id, 15));
            await Task.Delay(1000);
            Assert.False(process.HasExited, "the server exited with requests in flight");
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => new HttpClient { BaseAddress = address }.GetAsync("/healthz"));  // no longer accepting
            release.SetResult();
            foreach (var (status, answer) in await Task.WhenAll(inFlight))
            {
                Assert.True(status == 200, $"{status}: {answer}");
                Assert.Equal(10, answer["item_ids"]!.AsArray().Count);
            }
            await process.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
            Assert.True(process.ExitCode == 0, $"exit code {process.ExitCode}; output:\n{string.Join("\n", output)}");
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }
}
