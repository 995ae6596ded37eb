using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using VectorRecall.Retrieval;
using VectorRecall.Serving;

namespace VectorRecall.Tests.Server;

/// <summary>The HTTP service end to end: a real server on a free loopback port, called over HTTP.</summary>
public class ServerTests(ServerFixture f) : IClassFixture<ServerFixture>
{
    private TestServer S => f.Server;

    private static long[] Ids(JsonNode? array) => array!.AsArray().Select(n => n!.GetValue<long>()).ToArray();
    private static float[] Scores(JsonNode? array) => array!.AsArray().Select(n => n!.GetValue<float>()).ToArray();
    private string FeaturesOf(int user) => "[" + string.Join(",", f.Model.Data.UserFeatures.Row(user).ToArray().Select(v => v.ToString("R", CultureInfo.InvariantCulture))) + "]";

    [Fact]
    public async Task RecallAnswersWhatTheServiceAnswersBestFirst()
    {
        using var service = RecallService.FromBundle(f.Model.BundlePath);
        var expected = service.Recall(3, default, 10);
        var (status, body) = await S.Call("/v1/recall", """{"user_id": 3, "top_k": 10}""");
        Assert.Equal(200, status);
        Assert.Equal(expected.ItemIds, Ids(body["item_ids"]));
        var scores = Scores(body["scores"]);
        Assert.Equal(expected.Scores, scores);
        Assert.True(scores.Zip(scores.Skip(1)).All(p => p.First >= p.Second));
        Assert.True(body["latency_ms"]!.GetValue<double>() > 0);
        Assert.Equal((string?)(await S.Get("/readyz"))["model_version"], (string?)body["model_version"]);
    }

    [Fact]
    public void AWarmRecallIntoCallerBuffersAllocatesNothingAndAgreesWithTheResultForm()
    {
        using var service = RecallService.FromBundle(f.Model.BundlePath);
        var rows = new int[20];
        var scores = new float[20];
        var query = new UserQuery(3);
        int found = service.Recall(query, 20, rows, scores);
        var expected = service.Recall(query, 20);
        Assert.Equal(expected.ItemRows, rows[..found]);
        Assert.Equal(expected.Scores, scores[..found]);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20; i++) service.Recall(query, 20, rows, scores);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Throws<ArgumentException>(() => service.Recall(query, 21, rows, scores));
    }

    [Fact]
    public async Task AnAwaitedRecallOverALocalIndexCompletesAtOnceAllocatesNothingAndAgrees()
    {
        using var service = RecallService.FromBundle(f.Model.BundlePath);
        var rows = new int[20];
        var scores = new float[20];
        var query = new UserQuery(3);
        var pending = service.RecallAsync(query, 20, rows, scores, excludeSeen: true);
        Assert.True(pending.IsCompletedSuccessfully);
        int found = await pending;
        var expected = service.Recall(query, 20, excludeSeen: true);
        Assert.Equal(expected.ItemRows, rows[..found]);
        Assert.Equal(expected.Scores, scores[..found]);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20; i++) await service.RecallAsync(query, 20, rows, scores);   // completes at once: the loop stays on this thread
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        await Assert.ThrowsAsync<ArgumentException>(async () => await service.RecallAsync(query, 21, rows, scores));
    }

    [Fact]
    public async Task AnAwaitedBatchOverALocalIndexCompletesAtOnceAndAgrees()
    {
        using var service = RecallService.FromBundle(f.Model.BundlePath);
        UserQuery[] queries = [new(3), new(8), new(11)];
        var pending = service.BatchRecallAsync(queries, 15, excludeSeen: true, width: 60);
        Assert.True(pending.IsCompletedSuccessfully);
        var awaited = await pending;
        var expected = service.BatchRecall(queries, 15, excludeSeen: true, width: 60);
        for (int i = 0; i < queries.Length; i++)
        {
            Assert.Equal(expected[i].ItemRows, awaited[i].ItemRows);
            Assert.Equal(expected[i].Scores, awaited[i].Scores);
        }
        Assert.Empty(await service.BatchRecallAsync(Array.Empty<UserQuery>(), 15));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await service.BatchRecallAsync(queries, 0));
    }

    [Fact]
    public async Task EfSearchSetsTheWidthOfThisSearchAlone()
    {
        // A search as wide as the catalogue is exact; the narrowest the index allows is what the service answers at that width.
        using var service = RecallService.FromBundle(f.Model.BundlePath);
        var wide = service.Recall(new UserQuery(3), 50, width: 4096);
        var narrow = service.Recall(new UserQuery(3), 50, width: 1);
        var (status, body) = await S.Call("/v1/recall", """{"user_id": 3, "top_k": 50, "ef_search": 4096}""");
        Assert.Equal(200, status);
        Assert.Equal(wide.ItemIds, Ids(body["item_ids"]));
        (status, body) = await S.Call("/v1/recall", """{"user_id": 3, "top_k": 50, "ef_search": 1}""");
        Assert.Equal(200, status);
        Assert.Equal(narrow.ItemIds, Ids(body["item_ids"]));
        var (batchStatus, batch) = await S.Call("/v1/recall/batch", """{"users": [{"user_id": 3}], "top_k": 50, "ef_search": 4096}""");
        Assert.Equal(200, batchStatus);
        Assert.Equal(wide.ItemIds, Ids(batch["results"]![0]!["item_ids"]));
    }

    [Fact]
    public async Task SearchPatienceReachesTheWalkAndZeroTurnsItOff()
    {
        // At the widest ef the walk without patience is exhaustive; a patience of two expansions stops it early.
        using var service = RecallService.FromBundle(f.Model.BundlePath);
        var wide = service.Recall(new UserQuery(3), 50, width: 4096);
        var impatient = service.Recall(new UserQuery(3), 50, width: 4096, patience: 2);
        Assert.NotEqual(wide.ItemIds, impatient.ItemIds);
        var (status, body) = await S.Call("/v1/recall", """{"user_id": 3, "top_k": 50, "ef_search": 4096, "search_patience": 2}""");
        Assert.Equal(200, status);
        Assert.Equal(impatient.ItemIds, Ids(body["item_ids"]));
        (status, body) = await S.Call("/v1/recall", """{"user_id": 3, "top_k": 50, "ef_search": 4096, "search_patience": 0}""");
        Assert.Equal(200, status);
        Assert.Equal(wide.ItemIds, Ids(body["item_ids"]));
        var (batchStatus, batch) = await S.Call("/v1/recall/batch", """{"users": [{"user_id": 3}], "top_k": 50, "ef_search": 4096, "search_patience": 2}""");
        Assert.Equal(200, batchStatus);
        Assert.Equal(impatient.ItemIds, Ids(batch["results"]![0]!["item_ids"]));
    }

    [Fact]
    public async Task ExcludeSeenLeavesOutTheUsersItemsAndTheGivenHistory()
    {
        var seen = f.Model.Known.Of(3).ToArray().Select(i => f.Model.ItemIds[i]).ToHashSet();
        var (_, plain) = await S.Call("/v1/recall", """{"user_id": 3, "top_k": 100}""");
        Assert.Contains(Ids(plain["item_ids"]), seen.Contains);  // otherwise the test proves nothing
        var (status, body) = await S.Call("/v1/recall", """{"user_id": 3, "top_k": 100, "exclude_seen": true}""");
        Assert.Equal(200, status);
        Assert.Equal(100, Ids(body["item_ids"]).Length);
        Assert.DoesNotContain(Ids(body["item_ids"]), seen.Contains);

        long[] history = Ids(plain["item_ids"])[..3];
        var (_, withHistory) = await S.Call("/v1/recall", $$"""{"user_id": 3, "top_k": 100, "exclude_seen": true, "history": [{{string.Join(",", history)}}]}""");
        Assert.DoesNotContain(Ids(withHistory["item_ids"]), history.Contains);
    }

    [Fact]
    public async Task ANewUserIsRecalledFromFeaturesAndHistory()
    {
        var (status, body) = await S.Call("/v1/recall", $$"""{"user_id": 123456789, "features": {{FeaturesOf(3)}}, "history": [1000, 1001], "top_k": 20}""");
        Assert.Equal(200, status);
        Assert.Equal(20, Ids(body["item_ids"]).Length);
        // The history changes the user vector: the same features without it rank differently.
        var (_, bare) = await S.Call("/v1/recall", $$"""{"user_id": 123456789, "features": {{FeaturesOf(3)}}, "top_k": 20}""");
        Assert.NotEqual(Scores(body["scores"]), Scores(bare["scores"]));
    }

    [Fact]
    public async Task BatchAnswersEachUserAsASingleRecallWould()
    {
        var (status, body) = await S.Call("/v1/recall/batch", $$"""{"users": [{"user_id": 3}, {"user_id": 7}, {"user_id": 99999, "features": {{FeaturesOf(7)}}}], "top_k": 15, "exclude_seen": true}""");
        Assert.Equal(200, status);
        var results = body["results"]!.AsArray();
        Assert.Equal([3L, 7L, 99999L], results.Select(r => r!["user_id"]!.GetValue<long>()));
        foreach (var user in new[] { 3, 7 })
        {
            var (_, single) = await S.Call("/v1/recall", $$"""{"user_id": {{user}}, "top_k": 15, "exclude_seen": true}""");
            Assert.Equal(Ids(single["item_ids"]), Ids(results.Single(r => r!["user_id"]!.GetValue<long>() == user)!["item_ids"]));
        }
        Assert.NotNull((string?)body["model_version"]);
    }

    [Fact]
    public async Task HealthReadinessAndMetricsAnswer()
    {
        Assert.Equal("ok", (string?)(await S.Get("/healthz"))["status"]);
        var ready = await S.Get("/readyz");
        Assert.Equal("ready", (string?)ready["status"]);
        Assert.Equal(f.Model.Data.ItemCount, ready["items"]!.GetValue<int>());
        Assert.Equal(f.Model.Data.UserFeatures.Cols, ready["features"]!.GetValue<int>());

        await S.Call("/v1/recall", """{"user_id": 1, "top_k": 5}""");
        await S.Call("/v1/recall", """{"user_id": 1, "top_k": 0}""");
        string metrics = await S.Client.GetStringAsync("/metrics");
        Assert.Matches(@"vrecall_http_requests_total\{route=""recall"",status=""200""\} [1-9]", metrics);
        Assert.Matches(@"vrecall_http_requests_total\{route=""recall"",status=""400""\} [1-9]", metrics);
        Assert.Matches(@"vrecall_http_request_duration_seconds_bucket\{route=""recall"",le=""\+Inf""\} [1-9]", metrics);
        Assert.Contains($"vrecall_index_items {f.Model.Data.ItemCount}\n", metrics);
        Assert.Contains($"vrecall_bundle_info{{version=\"{(string?)ready["model_version"]}\"", metrics);
        Assert.Matches(@"process_resident_memory_bytes [1-9]", metrics);
    }

    public static TheoryData<string, string, int, string> BadBodies() => new()
    {
        { "/v1/recall", """{"user_id": 3, "top_k": 5""", 400, "top_k" },
        { "/v1/recall", """{"user_id": 3,, "top_k": 5}""", 400, "body" },
        { "/v1/recall", """{"user_id": 3, "top_k": 5 """, 400, "body" },
        { "/v1/recall", """{"user_id": 3, "top_k": 5, "features": [1, 2""", 400, "features" },
        { "/v1/recall", "", 400, "body" },
        { "/v1/recall", "[1, 2]", 400, "body" },
        { "/v1/recall", """{"user_id": 3, "top_k": 5} {}""", 400, "body" },
        { "/v1/recall", """{"user_id": 3, "top_k": "5"}""", 400, "top_k" },
        { "/v1/recall", """{"user_id": 3, "top_k": 5.5}""", 400, "top_k" },
        { "/v1/recall", """{"user_id": true, "top_k": 5}""", 400, "user_id" },
        { "/v1/recall", """{"user_id": "", "top_k": 5}""", 400, "user_id" },
        { "/v1/recall", """{"user_id": 3.5, "top_k": 5}""", 400, "user_id" },
        { "/v1/recall", """{"user_id": 3, "top_k": 5, "exclude_seen": "yes"}""", 400, "exclude_seen" },
        { "/v1/recall", """{"user_id": 3, "top_k": 5, "features": "x"}""", 400, "features" },
        { "/v1/recall", """{"user_id": 3, "top_k": 5, "features": [1, "a"]}""", 400, "features[1]" },
        { "/v1/recall", """{"user_id": 3, "top_k": 5, "history": [1000, 1.5]}""", 400, "history[1]" },
        { "/v1/recall", """{"user_id": 3}""", 400, "top_k" },
        { "/v1/recall", """{"top_k": 5}""", 400, "user_id" },
        { "/v1/recall", """{"user_id": 3, "topk": 5}""", 400, "topk" },
        { "/v1/recall", """{"user_id": 987654, "top_k": 5}""", 400, "user_id" },
        { "/v1/recall", """{"user_id": 3, "top_k": 5, "features": [1, 2]}""", 400, "features" },
        { "/v1/recall", """{"user_id": 3, "top_k": 5, "features": [NaN]}""", 400, "features" },
        { "/v1/recall", """{"user_id": 3, "top_k": 5, "features": [-Infinity]}""", 400, "features" },
        { "/v1/recall", """{"user_id": 3, "top_k": 5, "features": [1e999]}""", 400, "features[0]" },
        { "/v1/recall", """{"user_id": 3, "top_k": 0}""", 400, "top_k" },
        { "/v1/recall", """{"user_id": 3, "top_k": -4}""", 400, "top_k" },
        { "/v1/recall", """{"user_id": 3, "top_k": 501}""", 400, "top_k" },
        { "/v1/recall", """{"user_id": 3, "top_k": 100000000000}""", 400, "top_k" },
        { "/v1/recall", """{"user_id": 3, "top_k": 5, "history": [5]}""", 400, "history[0]" },
        { "/v1/recall", """{"user_id": 3, "top_k": 5, "ef_search": 0}""", 400, "ef_search" },
        { "/v1/recall", """{"user_id": 3, "top_k": 5, "ef_search": -3}""", 400, "ef_search" },
        { "/v1/recall", """{"user_id": 3, "top_k": 5, "ef_search": 4097}""", 400, "ef_search" },
        { "/v1/recall", """{"user_id": 3, "top_k": 5, "ef_search": 10, "ef_search": 20}""", 400, "ef_search" },
        { "/v1/recall/batch", """{"users": [{"user_id": 1}], "top_k": 5, "ef_search": "wide"}""", 400, "ef_search" },
        { "/v1/recall", """{"user_id": 3, "top_k": 5, "search_patience": -1}""", 400, "search_patience" },
        { "/v1/recall", """{"user_id": 3, "top_k": 5, "search_patience": 2.5}""", 400, "search_patience" },
        { "/v1/recall", """{"user_id": 3, "top_k": 5, "search_patience": 4, "search_patience": 4}""", 400, "search_patience" },
        { "/v1/recall/batch", """{"users": [{"user_id": 1}], "top_k": 5, "search_patience": "long"}""", 400, "search_patience" },
        { "/v1/recall/batch", """{"users": [{"user_id": 1, "search_patience": 5}], "top_k": 5}""", 400, "users[0].search_patience" },
        { "/v1/recall/batch", """{"users": [{"user_id": 1, "ef_search": 5}], "top_k": 5}""", 400, "users[0].ef_search" },
        { "/v1/recall/batch", """{"users": [], "top_k": 5}""", 400, "users" },
        { "/v1/recall/batch", """{"top_k": 5}""", 400, "users" },
        { "/v1/recall/batch", """{"users": [{"user_id": 1}]}""", 400, "top_k" },
        { "/v1/recall/batch", """{"users": {"user_id": 1}, "top_k": 5}""", 400, "users" },
        { "/v1/recall/batch", """{"users": [1, 2], "top_k": 5}""", 400, "users[0]" },
        { "/v1/recall/batch", """{"users": [{"user_id": 1}, {"user_id": 2, "features": [1]}], "top_k": 5}""", 400, "users[1].features" },
        { "/v1/recall/batch", """{"users": [{"user_id": 1}, {"user_id": 555555}], "top_k": 5}""", 400, "users[1].user_id" },
        { "/v1/recall/batch", """{"users": [{"user_id": 1, "top_k": 5}], "top_k": 5}""", 400, "users[0].top_k" },
        { "/v1/recall/batch", """{"users": [{"user_id": 1}, {"user_id": 2, "features": [NaN]}], "top_k": 5}""", 400, "users[1].features" },
        { "/v1/recall/batch", """{"users": [{"user_id": 1}], "top_k": 1000}""", 400, "top_k" },
        { "/v1/recall/batch", "{\"users\": [" + string.Join(",", Enumerable.Repeat("{\"user_id\": 1}", 9)) + "], \"top_k\": 5}", 400, "users" },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task BadInputIsA4xxJsonErrorNamingTheField(string path, string body, int status, string field)
    {
        var (actual, error) = await S.Call(path, body);
        Assert.Equal(status, actual);
        Assert.Equal(field, (string?)error["field"]);
        Assert.False(string.IsNullOrWhiteSpace((string?)error["error"]));
        Assert.Equal(status, error["status"]!.GetValue<int>());
        Assert.Equal(200, (int)(await S.Client.GetAsync("/healthz")).StatusCode);
    }

    [Fact]
    public async Task BodiesOverTheLimitAreRefusedWith413DeclaredOrStreamed()
    {
        string big = """{"user_id": 3, "top_k": 5, "features": [""" + string.Join(",", Enumerable.Repeat("0.125", 20_000)) + "]}";
        foreach (bool chunked in new[] { false, true })
        {
            using var response = await PostRefusedBody(big, chunked);
            Assert.Equal(413, (int)response.StatusCode);
            Assert.Equal("body", (string?)(await TestServer.JsonOf(response))["field"]);
        }
    }

    /// <summary>
    /// Posts a body the server refuses part-way, asking for 100-continue as a client with a large body
    /// should. A server that answers before the upload ends and closes can have its answer cut by the
    /// TCP reset of the unread rest (a race of the transport, not of the server); the post is tried
    /// again then, at most three times.
    /// </summary>
    private async Task<HttpResponseMessage> PostRefusedBody(string body, bool chunked)
    {
        for (int attempt = 1; ; attempt++)
        {
            HttpContent content = chunked ? new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(body))) : new StringContent(body, Encoding.UTF8);
            content.Headers.ContentType = new("application/json");
            var request = new HttpRequestMessage(HttpMethod.Post, "/v1/recall") { Content = content };
            request.Headers.ExpectContinue = true;
            try { return await S.Client.SendAsync(request); }
            catch (HttpRequestException) when (attempt < 3) { }
        }
    }

    [Theory]
    [InlineData("GET", "/v2/recall", 404, "path")]
    [InlineData("GET", "/", 404, "path")]
    [InlineData("GET", "/v1/recall", 405, "method")]
    [InlineData("DELETE", "/healthz", 405, "method")]
    [InlineData("PUT", "/v1/recall/batch", 405, "method")]
    public async Task UnknownRoutesAndMethodsAreJsonErrors(string method, string path, int status, string field)
    {
        using var response = await S.Client.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));
        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal(field, (string?)(await TestServer.JsonOf(response))["field"]);
    }

    [Fact]
    public async Task ABodyThatIsNotJsonIsRefusedWith415()
    {
        foreach (var path in new[] { "/v1/recall", "/v1/recall/batch" })
        {
            using var response = await S.Client.PostAsync(path, new StringContent("user_id=3&top_k=5", Encoding.UTF8, "application/x-www-form-urlencoded"));
            Assert.Equal(415, (int)response.StatusCode);
            var error = await TestServer.JsonOf(response);
            Assert.Equal("content-type", (string?)error["field"]);
            Assert.StartsWith("'application/x-www-form-urlencoded", (string?)error["error"]);
        }
        // JSON under another name, or a body with no media type at all, is read.
        using var suffixed = await S.Client.PostAsync("/v1/recall", new StringContent("""{"user_id": 3, "top_k": 5}""", Encoding.UTF8, "application/vnd.api+json"));
        Assert.Equal(200, (int)suffixed.StatusCode);
        var bare = new ByteArrayContent(Encoding.UTF8.GetBytes("""{"user_id": 3, "top_k": 5}"""));
        using var untyped = await S.Client.PostAsync("/v1/recall", bare);
        Assert.Equal(200, (int)untyped.StatusCode);
    }

    [Fact]
    public async Task AdminEndpointsAreOffWithoutATokenAndRefuseAWrongOne()
    {
        var (off, offError) = await S.Call("/v1/admin/reload", "{}");
        Assert.Equal(403, off);
        Assert.Equal("authorization", (string?)offError["field"]);

        await using var server = await f.StartAsync();
        Assert.Equal(401, (await server.Call("/v1/admin/reload", "{}")).Status);
        using var wrong = await server.PostJson("/v1/admin/reload", "{}", "not-the-token");
        Assert.Equal(401, (int)wrong.StatusCode);
        Assert.Equal("Bearer", wrong.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal(200, (await server.Call("/v1/admin/reload", "{}", ServerFixture.Token)).Status);
    }

    [Fact]
    public async Task ASlowBodyPastTheRequestTimeoutGets408()
    {
        await using var server = await f.StartAsync(o => o with { RequestTimeout = TimeSpan.FromMilliseconds(300) });
        var (status, error) = await SlowPost.SendAsync(server.Client.BaseAddress!, "/v1/recall", """{"user_id": 3, "top_k": 5}""", Task.Delay(1500));
        Assert.Equal(408, status);
        Assert.Equal("body", (string?)error["field"]);
    }
}
