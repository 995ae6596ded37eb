using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using CsCheck;
using Microsoft.Extensions.Logging;

using VectorRecall.Tests.IO;

namespace VectorRecall.Tests.Server;

/// <summary>
/// What hostile or careless clients and publishers did to the server (issue 16), each now a regression
/// test: no 5xx for any client input, no reload that stops the server, no half-sent request that holds it.
/// </summary>
public class ServerHardeningTests(ServerFixture f) : IClassFixture<ServerFixture>
{
    private TestServer S => f.Server;
    private string Features(string value) => "[" + string.Join(",", Enumerable.Repeat(value, f.Model.Data.UserFeatures.Cols)) + "]";

    [Theory]
    [InlineData("3e38")]
    [InlineData("-3e38")]
    public async Task FiniteFeaturesThatOverflowTheTowerAreA400NamingFeatures(string value)
    {
        var (status, error) = await S.Call("/v1/recall", $$"""{"user_id": 3, "top_k": 5, "features": {{Features(value)}}}""");
        Assert.Equal(400, status);
        Assert.Equal("features", (string?)error["field"]);
        var (batchStatus, batchError) = await S.Call("/v1/recall/batch", $$"""{"users": [{"user_id": 1}, {"user_id": 3, "features": {{Features(value)}}}], "top_k": 5}""");
        Assert.Equal(400, batchStatus);
        Assert.Equal("users[1].features", (string?)batchError["field"]);
    }

    [Fact]
    public async Task OneHugeFeatureIsRefusedNotAnsweredWithZeroScores()
    {
        string features = Features("0").Replace("[0", "[1e20", StringComparison.Ordinal);
        var (status, body) = await S.Call("/v1/recall", $$"""{"user_id": 3, "top_k": 5, "features": {{features}}}""");
        if (status == 200) Assert.Contains(body["scores"]!.AsArray(), s => s!.GetValue<float>() != 0f);
        else Assert.Equal(("features", 400), ((string?)body["field"], status));
    }

    public static TheoryData<byte[], string> MalformedText() => new()
    {
        { Encoding.UTF8.GetBytes("""{"\ud800": 1, "user_id": 3, "top_k": 5}"""), "lone surrogate escape in a key" },
        { [.. "{\""u8, 0xff, 0xfe, .. "\": 1, \"user_id\": 3, \"top_k\": 5}"u8], "raw invalid bytes in a key" },
        { [.. "{\"user_id\": 3, \"top_k\": 5, \"history\": [\""u8, 0xc3, .. "\"]}"u8], "invalid bytes in a string value" },
    };

    [Theory]
    [MemberData(nameof(MalformedText))]
    public async Task TextThatIsNotUtf8IsA400(byte[] body, string what)
    {
        foreach (string path in new[] { "/v1/recall", "/v1/recall/batch" })
        {
            var content = new ByteArrayContent(body);
            content.Headers.ContentType = new("application/json");
            using var response = await S.Client.PostAsync(path, content);
            Assert.True((int)response.StatusCode == 400, $"{what} on {path}: {(int)response.StatusCode}");
        }
    }

    [Theory]
    [InlineData("FFFFFFFFFFFFFFFFF")]
    [InlineData("zz")]
    [InlineData("-1")]
    public async Task ABadChunkSizeIsA400(string size)
    {
        string request = $"POST /v1/recall HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{size}\r\n{{}}\r\n0\r\n\r\n";
        var (status, body) = await RawHttp.SendAsync(S.Client.BaseAddress!, Encoding.ASCII.GetBytes(request));
        Assert.True(status == 400, $"{status}: {body}");
    }

    /// <summary>Kestrel's own size refusal arrives as an I/O error too; it must stay a 413, not become a framing 400.</summary>
    [Fact]
    public async Task AChunkedBodyOverTheLimitInOneChunkIsA413()
    {
        string chunk = new(' ', 100 * 1024);  // the fixture's limit is 64 KiB
        string request = $"POST /v1/recall HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{chunk.Length:X}\r\n{chunk}\r\n0\r\n\r\n";
        var (status, body) = await RawHttp.SendAsync(S.Client.BaseAddress!, Encoding.ASCII.GetBytes(request));
        Assert.True(status == 413, $"{status}: {body}");
    }

    [Fact]
    public async Task FieldsGivenTwiceAreRefusedAndLongUnknownKeysAreNotEchoedWhole()
    {
        var (status, error) = await S.Call("/v1/recall", """{"user_id": 3, "top_k": 5, "top_k": 7}""");
        Assert.Equal((400, "top_k"), (status, (string?)error["field"]));
        (status, error) = await S.Call("/v1/recall/batch", """{"users": [{"user_id": 1, "user_id": 2}], "top_k": 5}""");
        Assert.Equal((400, "users[0].user_id"), (status, (string?)error["field"]));
        string key = new('k', 40_000);
        (status, error) = await S.Call("/v1/recall", $$"""{"{{key}}": 1, "user_id": 3, "top_k": 5}""");
        Assert.Equal(400, status);
        Assert.True(((string?)error["field"])!.Length < 100);
    }

    /// <summary>Mutated request bodies over real HTTP: whatever reaches the tower, the search or the writer, never a 5xx.</summary>
    [Fact]
    public async Task NoMutatedBodyGetsA5xx()
    {
        var bodies = new[]
        {
            Encoding.UTF8.GetBytes($$"""{"user_id": 3, "features": {{Features("0.5")}}, "history": [1000, 1001], "top_k": 10, "exclude_seen": true}"""),
            Encoding.UTF8.GetBytes("""{"users": [{"user_id": 3, "history": [1002]}, {"user_id": 9}], "top_k": 5, "exclude_seen": true}"""),
        };
        // The cases are drawn first, then sent with awaits: blocking test threads would starve the in-process server.
        var cases = new System.Collections.Concurrent.ConcurrentQueue<byte[]>();
        Gen.OneOf(ReaderFuzzTests.Mutations(bodies[0]), ReaderFuzzTests.Mutations(bodies[1])).Sample(cases.Enqueue, iter: Math.Max(300, ReaderFuzzTests.Iterations / 10), threads: 1);
        var statuses = new List<int>();
        foreach (var bytes in cases)
            foreach (string path in new[] { "/v1/recall", "/v1/recall/batch" })
            {
                var content = new ByteArrayContent(bytes);
                content.Headers.ContentType = new("application/json");
                using var response = await S.Client.PostAsync(path, content);
                statuses.Add((int)response.StatusCode);
                Assert.True((int)response.StatusCode < 500, $"{(int)response.StatusCode} on {path} for body {Convert.ToHexString(bytes)}: {await response.Content.ReadAsStringAsync()}");
            }
        Assert.Contains(200, statuses);  // some mutations are still valid requests: the answers were exercised too
    }

    [Fact]
    public async Task ClientErrorsLogNoStackTraces()
    {
        var log = new RecordingLogger();
        await using var s = await f.StartAsync(log: log);
        byte[][] bad =
        [
            Encoding.UTF8.GetBytes($$"""{"user_id": 3, "top_k": 5, "features": {{Features("3e38")}}}"""),
            Encoding.UTF8.GetBytes("""{"\ud800": 1, "user_id": 3, "top_k": 5}"""),
            [.. "{\""u8, 0xff, 0xfe, .. "\": 1}"u8],
            Encoding.UTF8.GetBytes("""{"user_id": 3, "top_k": 99999999999999}"""),
            Encoding.UTF8.GetBytes("""{"user_id": 3, "top_k": 5, "top_k": 5}"""),
        ];
        foreach (var body in bad)
        {
            var content = new ByteArrayContent(body);
            content.Headers.ContentType = new("application/json");
            using var response = await s.Client.PostAsync("/v1/recall", content);
            Assert.Equal(400, (int)response.StatusCode);
        }
        await RawHttp.SendAsync(s.Client.BaseAddress!, Encoding.ASCII.GetBytes("POST /v1/recall HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nFFFFFFFFFFFFFFFFF\r\n{}\r\n0\r\n\r\n"));
        Assert.NotEmpty(log.Entries);  // the recorder hears the server (its start-up lines)
        Assert.DoesNotContain(log.Entries, e => e.Exception is not null || e.Level >= LogLevel.Warning);
    }

    [Fact]
    public async Task AHugeTopKIsReportedAsSent()
    {
        var (status, error) = await S.Call("/v1/recall", """{"user_id": 3, "top_k": 99999999999999}""");
        Assert.Equal(400, status);
        Assert.Contains("99999999999999", (string?)error["error"]);
        Assert.DoesNotContain("2147483647", (string?)error["error"]);
    }

    [Fact]
    public async Task AHistoryOverTheCapIsRefusedAndExclusionNeedsNoOverFetch()
    {
        await using var s = await f.StartAsync(o => o with { MaxHistory = 50 });
        string ids = string.Join(",", Enumerable.Range(0, 51).Select(i => 1000 + i));
        var (status, error) = await s.Call("/v1/recall", $$"""{"user_id": 3, "top_k": 5, "history": [{{ids}}], "exclude_seen": true}""");
        Assert.Equal((400, "history"), (status, (string?)error["field"]));
        Assert.Contains("--max-history", (string?)error["error"]);

        // Leaving out all but 10 items still answers the 10 that are left.
        int items = f.Model.ItemIds.Length;
        await using var wide = await f.StartAsync(o => o with { MaxHistory = items, MaxBodyBytes = 1 << 20 });
        string most = string.Join(",", f.Model.ItemIds.Skip(10));
        var (wideStatus, body) = await wide.Call("/v1/recall", $$"""{"user_id": 3, "top_k": 10, "history": [{{most}}], "exclude_seen": true}""");
        Assert.Equal(200, wideStatus);
        var left = body["item_ids"]!.AsArray().Select(n => n!.GetValue<long>()).Order().ToArray();
        Assert.Equal(f.Model.ItemIds.Take(10).Where(id => !f.Model.Known.Of(3).ToArray().Select(i => f.Model.ItemIds[i]).Contains(id)).Order(), left);
    }

    [Fact]
    public async Task RoutesAreCountedWhateverTheirCaseOrTrailingSlash()
    {
        await using var s = await f.StartAsync();
        Assert.Equal(200, (await s.Call("/V1/RECALL", """{"user_id": 3, "top_k": 5}""")).Status);
        Assert.Equal(200, (await s.Call("/v1/recall/", """{"user_id": 3, "top_k": 5}""")).Status);
        string metrics = await s.Client.GetStringAsync("/metrics");
        Assert.Contains("vrecall_http_requests_total{route=\"recall\",status=\"200\"} 2", metrics);
        Assert.DoesNotContain("route=\"other\"", metrics);
    }

    [Fact]
    public async Task HalfSentHeadersAreDroppedAfterTheRequestTimeout()
    {
        await using var s = await f.StartAsync(o => o with { RequestTimeout = TimeSpan.FromMilliseconds(500) });
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(s.Client.BaseAddress!.Host, s.Client.BaseAddress.Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync("POST /v1/recall HTTP/1.1\r\nHost: x\r\nContent-Ty"u8.ToArray());
        var buffer = new byte[4096];
        var clock = Stopwatch.StartNew();
        // Kestrel checks timeouts once a second: closed (or answered 408) within a few seconds, not its default 30.
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        while (await stream.ReadAsync(buffer, cancel.Token) > 0) { }
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"held {clock.Elapsed.TotalSeconds:F1} s");
    }

    [Fact]
    public async Task TheDrainDoesNotWaitForAConnectionStuckInItsHeaders()
    {
        var s = await f.StartAsync(o => o with { RequestTimeout = TimeSpan.FromSeconds(20), ShutdownTimeout = TimeSpan.FromSeconds(10) });
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(s.Client.BaseAddress!.Host, s.Client.BaseAddress.Port);
        await tcp.GetStream().WriteAsync("POST /v1/recall HTTP/1.1\r\nHost: x\r\n"u8.ToArray());
        await Task.Delay(200);
        var clock = Stopwatch.StartNew();
        await s.DisposeAsync();
        // Nothing is in flight: the drain closes the idle connection instead of waiting out the 10 s timeout.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"the drain took {clock.Elapsed.TotalSeconds:F1} s with nothing in flight");
    }
}
