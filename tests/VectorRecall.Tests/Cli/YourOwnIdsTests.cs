using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using VectorRecall.Serving;

namespace VectorRecall.Tests.Cli;

/// <summary>A newcomer's path: a CSV with string ids and ISO dates, trained by the CLI, served answering for the user's own ids.</summary>
[Collection(ConsoleCollection.Name)]
public class YourOwnIdsTests
{
    /// <summary>Users u100000 .. in four groups of taste over items sku-0 .., a few interactions a day in 2025.</summary>
    private static string WriteCsv(TempDir dir, bool stringIds)
    {
        var text = new StringBuilder("user_id,item_id,timestamp\n");
        var rng = new VectorRecall.Numerics.Rng(3);
        var start = new DateTime(2025, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        for (int u = 0; u < 240; u++)
            for (int k = 0; k < 6; k++)
            {
                int item = u % 4 * 40 + rng.NextInt(40);
                string user = stringIds ? $"u{100000 + u}" : $"{100000 + u}", id = stringIds ? $"sku-{item}" : $"{5000 + item}";
                text.Append(CultureInfo.InvariantCulture, $"{user},{id},{start.AddHours(rng.NextInt(8000)):yyyy-MM-ddTHH:mm:ssZ}\n");
            }
        string path = dir.File("my.csv");
        File.WriteAllText(path, text.ToString());
        return path;
    }

    private static string Train(TempDir dir, string csv)
    {
        string bundle = dir.File("bundle");
        var (code, output) = CliRun.CaptureOutput(["train", "--data", csv, "--epochs", "1", "--bundle", bundle, "--run-dir", dir.File("run"), "--eval-users", "20"]);
        Assert.True(code == 0, output);
        return bundle;
    }

    [Fact]
    public async Task StringIdsComeBackAsStringsThroughTheBundleAndHttp()
    {
        using var dir = new TempDir();
        string csv = WriteCsv(dir, stringIds: true);
        string bundle = Train(dir, csv);
        var items = File.ReadLines(csv).Skip(1).Select(l => l.Split(',')[1]).ToHashSet();
        using (var service = RecallService.FromBundle(bundle))
        {
            Assert.Equal(240, service.Users.Count);
            Assert.True(service.Users.TryGetRow("u100007", out _));
            Assert.False(service.Items.AllNumeric);
        }

        await using var server = await new ServerFixture().StartAsync(source: bundle);
        var (status, body) = await server.Call("/v1/recall", """{"user_id": "u100007", "top_k": 5, "exclude_seen": true}""");
        Assert.Equal(200, status);
        var ids = body["item_ids"]!.AsArray().Select(n => n!.GetValue<string>()).ToArray();
        Assert.Equal(5, ids.Length);
        Assert.All(ids, id => Assert.Contains(id, items));
        // A new user by its recent items, given by the items' own ids; the batch echoes each user's id as sent.
        (status, body) = await server.Call("/v1/recall/batch", """{"users": [{"user_id": "u100001"}, {"user_id": "someone-new", "history": ["sku-3", "sku-7"]}], "top_k": 3}""");
        Assert.Equal(200, status);
        Assert.Equal(["u100001", "someone-new"], body["results"]!.AsArray().Select(r => (string)r!["user_id"]!));
        (status, body) = await server.Call("/v1/recall", """{"user_id": "someone-new", "top_k": 3}""");
        Assert.Equal(400, status);
        Assert.Contains("'someone-new' is not in the bundle", (string)body["error"]!);
        (status, body) = await server.Call("/v1/recall", """{"user_id": "x", "top_k": 3, "history": ["sku-999"]}""");
        Assert.Equal((400, "history[0]"), (status, (string)body["field"]!));
        (status, _) = await server.Call("/v1/recall", $$"""{"user_id": "{{new string('a', 300)}}", "top_k": 3}""");
        Assert.Equal(400, status);
    }

    [Fact]
    public async Task IntegerIdsStayNumbersAndFindTheUserByItsOwnId()
    {
        using var dir = new TempDir();
        string bundle = Train(dir, WriteCsv(dir, stringIds: false));
        Assert.True(File.Exists(Path.Combine(bundle, "user_ids.npy")) && File.Exists(Path.Combine(bundle, "item_ids.npy")));
        await using var server = await new ServerFixture().StartAsync(source: bundle);
        var (status, body) = await server.Call("/v1/recall", """{"user_id": 100200, "top_k": 4}""");
        Assert.Equal(200, status);
        Assert.All(body["item_ids"]!.AsArray(), n => Assert.InRange(n!.GetValue<long>(), 5000, 5159));
        // The same id as a string names the same user.
        var (again, same) = await server.Call("/v1/recall", """{"user_id": "100200", "top_k": 4}""");
        Assert.Equal(200, again);
        Assert.Equal(body["item_ids"]!.ToJsonString(), same["item_ids"]!.ToJsonString());
        (status, body) = await server.Call("/v1/recall", """{"user_id": 3, "top_k": 4}""");   // a row number is not an id
        Assert.Equal(400, status);
    }

    [Theory]
    [InlineData("item_ids.json", "duplicate", "appears twice")]
    [InlineData("item_ids.json", "object", "expected a JSON array of ids")]
    [InlineData("item_ids.json", "nested", "expected a string or an integer")]
    [InlineData("item_ids.json", "short", "maps 2 ids, expected 160")]
    [InlineData("user_ids.json", "short", "maps 2 ids, expected 240")]
    public void HostileIdFilesAreRefusedEvenUnderAValidManifest(string file, string how, string expected)
    {
        using var dir = new TempDir();
        string bundle = Train(dir, WriteCsv(dir, stringIds: true));
        string path = Path.Combine(bundle, file);
        int count = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!.AsArray().Count;
        string text = how switch
        {
            "duplicate" => "[" + string.Join(",", Enumerable.Repeat("\"x\"", count)) + "]",
            "object" => """{"a": 1}""",
            "nested" => "[" + string.Join(",", Enumerable.Range(0, count).Select(i => i == 1 ? "{\"x\": 1}" : $"\"k{i}\"")) + "]",
            _ => """["a", "b"]""",
        };
        File.WriteAllText(path, text);
        // The manifest is brought up to date, as a careless or hostile publisher would: only the id file's own checks remain.
        string manifestPath = Path.Combine(bundle, ServingBundle.ManifestFile);
        var manifest = JsonNode.Parse(File.ReadAllText(manifestPath))!.AsObject();
        var bytes = File.ReadAllBytes(path);
        manifest["files"]![file] = new JsonObject { ["bytes"] = bytes.Length, ["crc32c"] = VectorRecall.IO.Crc32C.Compute(bytes).ToString("x8", CultureInfo.InvariantCulture) };
        File.WriteAllText(manifestPath, manifest.ToJsonString());
        var e = Assert.Throws<VectorRecall.IO.FileFormatException>(() => RecallService.FromBundle(bundle));
        Assert.Contains(file, e.Message);
        Assert.Contains(expected, e.Message);
    }
}
