using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using VectorRecall.IO;
using VectorRecall.Server;
using VectorRecall.Serving;

namespace VectorRecall.Tests.Serving;

/// <summary>
/// A published bundle whose manifest is wrong in type, encoding or shape, or lists files outside the
/// bundle, is refused with the file and field named: a reload keeps the old bundle serving, a fresh
/// start exits 1 with one line. Nothing outside the bundle folder is opened; a FIFO never hangs a reload.
/// </summary>
public class BundleManifestTests(ServerFixture f) : IClassFixture<ServerFixture>
{
    private static async Task<string> VersionOf(TestServer s) => (string)(await s.Get("/readyz"))["model_version"]!;

    private static string ManifestOf(string bundle) => Path.Combine(bundle, ServingBundle.ManifestFile);

    private static void Edit(string bundle, Action<JsonObject> change)
    {
        var manifest = JsonNode.Parse(File.ReadAllText(ManifestOf(bundle)))!.AsObject();
        change(manifest);
        Publish(ManifestOf(bundle), Encoding.UTF8.GetBytes(manifest.ToJsonString()));
    }

    /// <summary>Replaces a manifest in one step, as a publisher would: a watcher must never see it half written.</summary>
    private static void Publish(string path, byte[] bytes)
    {
        File.WriteAllBytes(path + ".new", bytes);
        File.Move(path + ".new", path, overwrite: true);
    }

    public static TheoryData<string, string> BadManifests() => new()
    {
        { "created_utc is a number", "created_utc" },
        { "version is a string", "version" },
        { "format is missing", "format" },
        { "files entry is a number", "files.item_ids.npy" },
        { "bytes is a string", "files.item_ids.npy.bytes" },
        { "root is an array", "root" },
        { "invalid UTF-8", "UTF-8" },
        { "duplicate key", "version" },
    };

    private static void Break(string bundle, string how)
    {
        string path = ManifestOf(bundle);
        string text = File.ReadAllText(path);
        switch (how)
        {
            case "created_utc is a number": Edit(bundle, m => m["created_utc"] = 20261130); break;
            case "version is a string": Edit(bundle, m => m["version"] = "1"); break;
            case "format is missing": Edit(bundle, m => m.Remove("format")); break;
            case "files entry is a number": Edit(bundle, m => m["files"]!["item_ids.npy"] = 7); break;
            case "bytes is a string": Edit(bundle, m => m["files"]!["item_ids.npy"]!["bytes"] = "12"); break;
            case "root is an array": Publish(path, Encoding.UTF8.GetBytes("[" + text + "]")); break;
            case "invalid UTF-8": Publish(path, [.. Encoding.UTF8.GetBytes(text[..^1]), .. ",\"x\":\""u8, 0xff, 0xfe, .. "\"}"u8]); break;
            case "duplicate key": Publish(path, Encoding.UTF8.GetBytes(text[..^1] + ",\"version\": 1}")); break;
        }
    }

    [Fact]
    public async Task AWatchedBadManifestIsRefusedAndTheOldBundleKeepsServing()
    {
        await using var s = await f.StartAsync(o => o with { Watch = true, WatchInterval = TimeSpan.FromMilliseconds(50) });
        string before = await VersionOf(s);
        byte[] good = File.ReadAllBytes(ManifestOf(s.Bundle));
        int failed = 0;
        foreach (var (how, field) in BadManifests().Select(row => ((string)row[0], (string)row[1])))
        {
            Publish(ManifestOf(s.Bundle), good);  // the served version again: nothing to reload
            Break(s.Bundle, how);
            failed++;
            for (var clock = Stopwatch.StartNew(); s.Server.Host.ReloadsFailed < failed && clock.Elapsed < TimeSpan.FromSeconds(30); await Task.Delay(20)) { }
            var ready = await s.Get("/readyz");
            Assert.Equal(before, (string?)ready["model_version"]);
            string error = (string?)ready["last_reload_error"] ?? "";
            Assert.True(error.Contains("manifest.json") && error.Contains(field), $"{how}: {error}");
            Assert.DoesNotContain(Path.GetTempPath(), error);  // no server paths on an unauthenticated route
            Assert.Equal(200, (await s.Call("/v1/recall", """{"user_id": 5, "top_k": 5}""")).Status);
        }
        Assert.Equal(failed, s.Server.Host.ReloadsFailed);
    }

    [Theory]
    [MemberData(nameof(BadManifests))]
    public void AFreshLoadOfABadManifestNamesTheFileAndField(string how, string field)
    {
        using var dir = new TempDir();
        string bundle = dir.File("bundle");
        ServerFixture.CopyBundle(f.Model.BundlePath, bundle);
        Break(bundle, how);
        var e = Assert.Throws<FileFormatException>(() => LoadedBundle.Load(bundle));
        Assert.EndsWith("manifest.json", e.FilePath);
        Assert.Contains(field, e.Message);
    }

    [Theory]
    [InlineData("/etc/hostname")]
    [InlineData("../../../../../../etc/hostname")]
    [InlineData("sub/item_ids.npy")]
    [InlineData("..")]
    public void ManifestNamesOutsideTheBundleAreRefusedBeforeOpening(string name)
    {
        using var dir = new TempDir();
        string bundle = dir.File("bundle");
        ServerFixture.CopyBundle(f.Model.BundlePath, bundle);
        Edit(bundle, m => m["files"]![name] = new JsonObject { ["bytes"] = 9, ["crc32c"] = "00000000" });
        var e = Assert.Throws<FileFormatException>(() => LoadedBundle.Load(bundle));
        Assert.Contains("not a plain file name", e.Message);
    }

    [Fact]
    public async Task ALinkLeavingTheBundleAndAFifoAreRefusedWithoutHanging()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var dir = new TempDir();
        string bundle = dir.File("bundle");
        ServerFixture.CopyBundle(f.Model.BundlePath, bundle);
        File.WriteAllText(dir.File("outside.txt"), "secret");
        File.CreateSymbolicLink(Path.Combine(bundle, "leak"), dir.File("outside.txt"));
        Edit(bundle, m => m["files"]!["leak"] = new JsonObject { ["bytes"] = 6, ["crc32c"] = "00000000" });
        Assert.Contains("outside the bundle", Assert.Throws<FileFormatException>(() => LoadedBundle.Load(bundle)).Message);

        Edit(bundle, m => ((JsonObject)m["files"]!).Remove("leak"));
        using (var mkfifo = Process.Start("mkfifo", Path.Combine(bundle, "pipe"))) mkfifo.WaitForExit();
        Edit(bundle, m => m["files"]!["pipe"] = new JsonObject { ["bytes"] = 0, ["crc32c"] = "00000000" });
        var load = Task.Run(() => LoadedBundle.Load(bundle));
        var e = await Assert.ThrowsAsync<FileFormatException>(() => load.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Contains("not a regular file", e.Message);
    }

    [Fact]
    public void PublishingABundleRemovesFoldersThatKilledPublishersLeft()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var dir = new TempDir();
        string bundle = dir.File("bundle");
        ServerFixture.CopyBundle(f.Model.BundlePath, bundle);
        using var gone = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!;
        gone.WaitForExit();
        string staging = $"{bundle}.tmp-{gone.Id}-{Guid.NewGuid():N}", retired = $"{bundle}.old-{Guid.NewGuid():N}";
        ServerFixture.CopyBundle(f.Model.BundlePath, staging);
        ServerFixture.CopyBundle(f.Model.BundlePath, retired);
        f.Republish(bundle);
        Assert.Equal(["bundle"], Directory.EnumerateFileSystemEntries(dir.Path).Select(Path.GetFileName));
        LoadedBundle.Load(bundle).Release();
    }

    [Fact]
    public void ALinkInsideTheBundleIsFollowed()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var dir = new TempDir();
        string bundle = dir.File("bundle");
        ServerFixture.CopyBundle(f.Model.BundlePath, bundle);
        string ids = Path.Combine(bundle, "item_ids.npy");
        File.Move(ids, Path.Combine(bundle, "item_ids.real"));
        File.CreateSymbolicLink(ids, "item_ids.real");
        LoadedBundle.Load(bundle).Release();
    }
}
