using System.Buffers.Binary;
using System.Text;
using VectorRecall.Numerics;

namespace VectorRecall.Tests.Cli;

/// <summary>The CLI on hostile files and addresses: exit 1 and one line naming the input, never a stack trace.</summary>
[Collection(ConsoleCollection.Name)]
public class CliHostileInputTests
{
    private static void OneLine(string[] args, string expected)
    {
        var (code, error) = CliRun.Capture(args);
        Assert.Equal(1, code);
        Assert.Single(error.Trim().Split('\n'));
        Assert.Contains(expected, error);
        Assert.DoesNotContain("   at ", error);
    }

    [Fact]
    public void IdFilesWithBadTextAndSafetensorsWithBadOffsetsAreOneLine()
    {
        using var dir = new TempDir();
        string ids = dir.File("ids.json");
        File.WriteAllBytes(ids, [.. "{\"1\": [\"<a_"u8, 0xff, .. ">\"]}"u8]);
        OneLine(["rqvae", "evaluate", "--ids", ids], ids);
        File.WriteAllText(ids, """{"\ud800": ["<a_1>"]}""");
        OneLine(["rqvae", "evaluate", "--ids", ids], ids);

        string weights = dir.File("w.safetensors");
        var header = Encoding.UTF8.GetBytes("""{"w":{"dtype":"F32","shape":[2],"data_offsets":["0",8]}}""");
        File.WriteAllBytes(weights, [.. BitConverter.GetBytes((ulong)header.Length), .. header, .. new byte[8]]);
        OneLine(["inspect", weights], weights);
    }

    [Fact]
    public void TrainingOnACsvWithNothingToTestFailsBeforeWritingABundle()
    {
        using var dir = new TempDir();
        string csv = dir.File("one.csv");
        File.WriteAllText(csv, "user,item,timestamp\n100000,7,1\n");
        OneLine(["train", "--dataset", "csv", "--data", csv, "--bundle", dir.File("bundle"), "--checkpoint-dir", dir.File("ck")], "two or more interactions");
        Assert.False(Directory.Exists(dir.File("bundle")));
    }

    [Theory]
    [InlineData("https://127.0.0.1:0", "HTTPS")]
    [InlineData("nonsense", "nonsense")]
    [InlineData("http://127.0.0.1:99999", "port")]
    [InlineData("http://300.1.1.1:80", "300.1.1.1")]
    [InlineData("http://example.com:80", "example.com")]
    public void BadListenAddressesAreOneLine(string url, string expected)
    {
        using var dir = new TempDir();
        OneLine(["serve", "--bundle", dir.Path, "--urls", url], expected);
    }

    [Fact]
    public void APortInUseIsOneLine()
    {
        var busy = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        busy.Start();
        try
        {
            var model = TrainedSmallModel.Shared;
            int port = ((System.Net.IPEndPoint)busy.LocalEndpoint).Port;
            OneLine(["serve", "--bundle", model.BundlePath, "--urls", $"http://127.0.0.1:{port}"], "address already in use");
        }
        finally { busy.Stop(); }
    }
}
