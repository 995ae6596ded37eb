using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using VectorRecall.Indexing;
using VectorRecall.Retrieval;
using VectorRecall.Server;

namespace VectorRecall.Tests.Server;

/// <summary>
/// <c>allow_partial</c> over HTTP (<c>/v1/recall</c> and <c>/v1/recall/batch</c>), against a retriever with one part down (as a shard cluster with a shard that has no live
/// replica): without it the answer is 503; with it, 200 from the other parts, flagged and naming the missing part.
/// </summary>
public sealed class PartialAnswerTests
{
    /// <summary>The bundle's own index, with "shard 2" down: it answers only callers that accept a partial answer.</summary>
    private sealed class PartlyDownRetriever(IVectorIndex index) : IRetriever
    {
        private readonly IndexRetriever _inner = new(index);
        public string Name => "partly-down";
        public int Dimension => _inner.Dimension;
        public int ItemCount => _inner.ItemCount;

        public int Search(ReadOnlySpan<float> query, int k, Span<long> ids, Span<float> scores, SearchOptions? options = null)
        {
            if (options?.Partial is not { } partial) throw new RetrieverUnavailableException("shard 2: none of its 1 replica(s) answered");
            partial.Missing = [2];
            return _inner.Search(query, k, ids, scores, options);
        }

        public void SearchBatch(ReadOnlySpan<float> queries, int k, Span<long> ids, Span<float> scores, Span<int> counts, IReadOnlyList<SearchOptions?>? options = null)
        {
            if (options is null || options.Any(o => o?.Partial is null)) throw new RetrieverUnavailableException("shard 2: none of its 1 replica(s) answered");
            foreach (var o in options) o!.Partial!.Missing = [2];
            _inner.SearchBatch(queries, k, ids, scores, counts, options);
        }

        public void Dispose() => _inner.Dispose();
    }

    [Fact]
    public async Task APartialAnswerIsGivenOnlyWhenAskedForAndSaysWhatIsMissing()
    {
        using var dir = new TempDir();
        string bundle = dir.File("bundle");
        ServerFixture.CopyBundle(TrainedSmallModel.Shared.BundlePath, bundle);
        var (app, _) = RecallServer.Build(new ServerOptions { BundlePath = bundle, Urls = "http://127.0.0.1:0" }, l => l.ClearProviders(),
            new ServerHosting { SearchWith = _ => new PartlyDownRetriever(IndexFactory.Load(Path.Combine(bundle, "items.vrix"))) });
        await app.StartAsync();
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri(RecallServer.Addresses(app)[0]) };
            async Task<(int, JsonObject)> Post(string json, string path = "/v1/recall")
            {
                using var response = await client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
                return ((int)response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject());
            }
            var (status, body) = await Post("""{"user_id": 3, "top_k": 10}""");
            Assert.Equal(503, status);
            Assert.Contains("shard 2", body["error"]!.GetValue<string>());
            (status, body) = await Post("""{"user_id": 3, "top_k": 10, "allow_partial": false}""");
            Assert.Equal(503, status);

            (status, body) = await Post("""{"user_id": 3, "top_k": 10, "allow_partial": true}""");
            Assert.Equal(200, status);
            Assert.Equal(10, body["item_ids"]!.AsArray().Count);
            Assert.True(body["partial"]!.GetValue<bool>());
            Assert.Equal([2], body["missing_shards"]!.AsArray().Select(n => n!.GetValue<int>()));

            (status, body) = await Post("""{"users": [{"user_id": 3}, {"user_id": 4}], "top_k": 10}""", "/v1/recall/batch");
            Assert.Equal(503, status);
            (status, body) = await Post("""{"users": [{"user_id": 3}, {"user_id": 4}], "top_k": 10, "allow_partial": true}""", "/v1/recall/batch");
            Assert.Equal(200, status);
            Assert.All(body["results"]!.AsArray(), r =>
            {
                Assert.Equal(10, r!["item_ids"]!.AsArray().Count);
                Assert.True(r["partial"]!.GetValue<bool>());
                Assert.Equal([2], r["missing_shards"]!.AsArray().Select(n => n!.GetValue<int>()));
            });

            (status, body) = await Post("""{"user_id": 3, "top_k": 10, "allow_partial": "yes"}""");
            Assert.Equal(400, status);
            Assert.Equal("allow_partial", body["field"]!.GetValue<string>());
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
