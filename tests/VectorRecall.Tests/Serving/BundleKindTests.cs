using System.Text.Json.Nodes;
using VectorRecall.IO;
using VectorRecall.Numerics;
using VectorRecall.Retrieval;
using VectorRecall.Serving;

namespace VectorRecall.Tests.Serving;

public class BundleKindTests(BundleKinds bundles) : IClassFixture<BundleKinds>
{
    private const int K = 10;

    [Fact]
    public void EveryKindWithAUserTowerGivesItAndASequenceBundleSaysWhyNot()
    {
        foreach (var kind in new[] { BundleKind.TwoTower, BundleKind.Tdm, BundleKind.SemanticIds })
            Assert.Equal(TrainedSmallModel.Shared.Config.EmbeddingDim, ServingBundle.LoadUserTower(bundles.Path(kind)).Config.EmbeddingDim);
        Assert.Contains("sequence encoder", Assert.Throws<ArgumentException>(() => ServingBundle.LoadUserTower(bundles.Path(BundleKind.Sequence))).Message);
    }

    [Theory]
    [InlineData(BundleKind.TwoTower, "hnsw")]
    [InlineData(BundleKind.Tdm, "tdm")]
    [InlineData(BundleKind.SemanticIds, "semantic")]
    [InlineData(BundleKind.Sequence, "hnsw")]
    public async Task EveryKindAnswersRecallAndBatchWithTheItemsEvalRanks(BundleKind kind, string retriever)
    {
        var m = TrainedSmallModel.Shared;
        var users = Enumerable.Range(0, 24).ToArray();
        // What `vrecall eval` ranks: the bundle's encoder, its retriever, each user's train and validation items refused.
        var expected = new Dictionary<int, long[]>();
        using (var service = RecallService.FromBundle(bundles.Path(kind)))
        {
            Assert.Equal(kind, service.Kind);
            Assert.Equal(retriever, service.Retriever.Name);
            var queries = service.EncodeUsers(users.Select(u => (long)u).ToArray());
            RetrievalEvaluator.Rank(service.Retriever, queries, users, m.Known, K, 0, 1024,
                (user, ranked) => expected[user] = ranked.ToArray().Select(i => m.ItemIds[i]).ToArray());
        }
        Assert.All(expected.Values, ids => Assert.Equal(K, ids.Length));

        var fixture = new ServerFixture();
        await using var server = await fixture.StartAsync(o => o with { AdminToken = null }, source: bundles.Path(kind));
        foreach (int u in users.Take(6))
        {
            var (status, body) = await server.Call("/v1/recall", $$"""{"user_id": {{u}}, "top_k": {{K}}, "exclude_seen": true}""");
            Assert.Equal(200, status);
            Assert.Equal(expected[u], Ids(body["item_ids"]));
        }
        Assert.Equal(ServingBundle.KindName(kind), (string?)(await server.Get("/readyz"))["kind"]);
        var (batchStatus, batch) = await server.Call("/v1/recall/batch", $$"""{"users": [{{string.Join(",", users.Select(u => $$"""{"user_id": {{u}}}"""))}}], "top_k": {{K}}, "exclude_seen": true}""");
        Assert.Equal(200, batchStatus);
        var results = batch["results"]!.AsArray();
        for (int i = 0; i < users.Length; i++) Assert.Equal(expected[users[i]], Ids(results[i]!["item_ids"]));
    }

    [Fact]
    public async Task ASequenceBundleReadsTheHistoryARequestGivesAndRefusesWhatItCannotRead()
    {
        var m = TrainedSmallModel.Shared;
        var fixture = new ServerFixture();
        await using var server = await fixture.StartAsync(o => o with { AdminToken = null }, source: bundles.Path(BundleKind.Sequence));
        // A new user is recalled from the history it sends (item ids, oldest first); a longer one than the window reads its latest items.
        long[] recent = [.. m.ItemIds.Take(30)];
        var (status, body) = await server.Call("/v1/recall", $$"""{"user_id": 999999, "history": [{{string.Join(",", recent)}}], "top_k": 10}""");
        Assert.Equal(200, status);
        var (_, latest) = await server.Call("/v1/recall", $$"""{"user_id": 999999, "history": [{{string.Join(",", recent[^20..])}}], "top_k": 10}""");
        Assert.Equal(Ids(latest["item_ids"]), Ids(body["item_ids"]));
        // Nothing to read, an unknown item, features for a model that takes none: 400 naming the field.
        foreach (var (json, field) in new[]
        {
            ("""{"user_id": 999999, "top_k": 10}""", "user_id"),
            ("""{"user_id": 999999, "history": [], "top_k": 10}""", "history"),
            ($$"""{"user_id": 1, "history": [{{m.ItemIds[0]}}, -5], "top_k": 10}""", "history[1]"),
            ("""{"user_id": 1, "features": [1.0], "top_k": 10}""", "features"),
        })
        {
            var (code, error) = await server.Call("/v1/recall", json);
            Assert.Equal(400, code);
            Assert.Equal(field, (string?)error["field"]);
        }
    }

    [Theory]
    [InlineData(BundleKind.Tdm)]
    [InlineData(BundleKind.SemanticIds)]
    public async Task ATopKWiderThanTheBundlesBeamIsServedNotRefused(BundleKind kind)
    {
        var fixture = new ServerFixture();
        await using var server = await fixture.StartAsync(o => o with { AdminToken = null }, source: bundles.Path(kind));
        var (status, body) = await server.Call("/v1/recall", """{"user_id": 2, "top_k": 120, "exclude_seen": true}""");
        Assert.Equal(200, status);
        var ids = Ids(body["item_ids"]);
        Assert.Equal(120, ids.Length);
        Assert.Equal(120, ids.Distinct().Count());
    }

    [Theory]
    [InlineData(BundleKind.Tdm)]
    [InlineData(BundleKind.SemanticIds)]
    public void ABundleNamesItsKindAndAMissingKindFileIsRefused(BundleKind kind)
    {
        using var dir = new TempDir();
        string copy = dir.File("b");
        ServerFixture.CopyBundle(bundles.Path(kind), copy);
        var manifest = JsonNode.Parse(File.ReadAllText(System.IO.Path.Combine(copy, ServingBundle.ManifestFile)))!.AsObject();
        Assert.Equal(ServingBundle.KindName(kind), (string?)manifest["kind"]);
        string kindFile = kind == BundleKind.Tdm ? "tdm_model.safetensors" : "semantic_codes.npy";
        File.Delete(System.IO.Path.Combine(copy, kindFile));
        var e = Assert.Throws<FileFormatException>(() => RecallService.FromBundle(copy));
        Assert.Contains(kindFile, e.Message);

        manifest["kind"] = "graph";
        File.WriteAllText(System.IO.Path.Combine(copy, ServingBundle.ManifestFile), manifest.ToJsonString());
        Assert.Contains("field 'kind'", Assert.Throws<FileFormatException>(() => RecallService.FromBundle(copy)).Message);
    }

    private static long[] Ids(JsonNode? node) => node!.AsArray().Select(n => (long)n!).ToArray();
}
