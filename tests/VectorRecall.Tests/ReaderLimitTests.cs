using System.Buffers.Binary;
using System.Text;
using VectorRecall.Data;
using VectorRecall.Indexing;
using VectorRecall.IO;
using VectorRecall.Numerics;
using VectorRecall.SemanticIds;

namespace VectorRecall.Tests;

/// <summary>
/// Headers that lie about sizes (issue 16, defect 6 and its small ones): every reader checks declared
/// sizes against the file before allocating, and reports the file in one line.
/// </summary>
public class ReaderLimitTests
{
    private static string SmallIndex(TempDir dir)
    {
        string path = dir.File("small.vrix");
        using var index = new HnswIndex(16, Metric.InnerProduct, new HnswOptions { M = 4, Threads = 1 });
        index.Add(VectorSets.Ids(20), VectorSets.Clustered(20, 16, 2, 1));
        index.Save(path);
        return path;
    }

    [Theory]
    [InlineData(24, 2_000_000L, "truncated or corrupted")]   // count
    [InlineData(20, 10_000_000L, "dimension")]             // dimension (a 4-byte field: the low half)
    public void A_vrix_header_that_claims_more_than_the_file_holds_is_refused_before_allocating(int offset, long value, string expected)
    {
        using var dir = new TempDir();
        string path = SmallIndex(dir);
        var bytes = File.ReadAllBytes(path);
        if (offset == 24) BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(offset), value);
        else BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(offset), (int)value);
        File.WriteAllBytes(path, bytes);
        long before = GC.GetTotalAllocatedBytes(precise: true);
        var e = Assert.Throws<FileFormatException>(() => IndexFactory.Load(path));
        Assert.Contains(expected, e.Message);
        Assert.StartsWith(path, e.Message);
        Assert.True(GC.GetTotalAllocatedBytes(precise: true) - before < 16 << 20);
    }

    [Fact]
    public void A_huge_npy_shape_is_too_large_not_a_negative_size()
    {
        using var dir = new TempDir();
        string path = dir.File("huge.npy");
        IO.Npy.Write(path, new float[4], [2, 2]);
        var text = Encoding.Latin1.GetString(File.ReadAllBytes(path)).Replace("(2, 2)", "(4294967295, 4294967295)", StringComparison.Ordinal).Replace("(2, 2)", "(2147483647, 2147483647, 2147483647)", StringComparison.Ordinal);
        File.WriteAllBytes(path, Encoding.Latin1.GetBytes(text));
        var e = Assert.Throws<FileFormatException>(() => IO.Npy.Read(path));
        Assert.DoesNotContain("-", e.Problem);

        IO.Npy.Write(path, new float[4], [2, 2]);
        text = Encoding.Latin1.GetString(File.ReadAllBytes(path)).Replace("(2, 2),", "(2147483647, 2147483647, 8),", StringComparison.Ordinal);
        File.WriteAllBytes(path, Encoding.Latin1.GetBytes(text));
        e = Assert.Throws<FileFormatException>(() => IO.Npy.Read(path));
        Assert.Contains("too large", e.Problem);
    }

    [Fact]
    public void An_empty_vector_file_says_it_holds_no_vectors()
    {
        using var dir = new TempDir();
        string path = dir.File("empty.npy");
        IO.Npy.Write(path, Array.Empty<float>(), [0, 16]);
        Assert.Contains("holds no vectors", Assert.Throws<FileFormatException>(() => VectorFiles.ReadMatrix(path)).Message);
    }

    [Fact]
    public void Safetensors_offsets_that_are_strings_are_a_format_error()
    {
        using var dir = new TempDir();
        string path = dir.File("t.safetensors");
        SafeTensors.Write(path, [KeyValuePair.Create("w", new TypedArray(ElementType.Float32, [2], new float[] { 1, 2 }))]);
        var bytes = File.ReadAllBytes(path);
        string text = Encoding.Latin1.GetString(bytes).Replace("[0,8]", "[\"0\",8]", StringComparison.Ordinal);
        var changed = Encoding.Latin1.GetBytes(text);
        BinaryPrimitives.WriteUInt64LittleEndian(changed, BinaryPrimitives.ReadUInt64LittleEndian(bytes) + 2);
        File.WriteAllBytes(path, changed);
        Assert.Contains("data_offsets", Assert.Throws<FileFormatException>(() => SafeTensors.Read(path)).Message);
    }

    [Theory]
    [InlineData(new byte[] { (byte)'{', (byte)'"', 0xff, 0xfe, (byte)'"', (byte)':', (byte)'[', (byte)']', (byte)'}' })]
    [InlineData(new byte[] { (byte)'{', (byte)'"', (byte)'\\', (byte)'u', (byte)'d', (byte)'8', (byte)'0', (byte)'0', (byte)'"', (byte)':', (byte)'[', (byte)'"', (byte)'<', (byte)'a', (byte)'_', (byte)'1', (byte)'>', (byte)'"', (byte)']', (byte)'}' })]
    public void Semantic_id_files_with_bad_text_are_a_format_error(byte[] content)
    {
        using var dir = new TempDir();
        string path = dir.File("ids.json");
        File.WriteAllBytes(path, content);
        Assert.StartsWith(path, Assert.Throws<FileFormatException>(() => SemanticIdFile.Read(path)).Message);
    }

    [Fact]
    public void Semantic_id_files_with_a_key_twice_are_refused()
    {
        using var dir = new TempDir();
        string path = dir.File("ids.json");
        File.WriteAllText(path, """{"1": ["<a_1>"], "1": ["<a_2>"]}""");
        Assert.Throws<FileFormatException>(() => SemanticIdFile.Read(path));
    }

    [Theory]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    [InlineData("-Infinity")]
    public void Csv_timestamps_must_be_finite(string timestamp)
    {
        using var dir = new TempDir();
        string path = dir.File("i.csv");
        File.WriteAllText(path, $"1,10,1\n1,11,{timestamp}\n1,12,3\n");
        Assert.Contains("line 2", Assert.Throws<FileFormatException>(() => DatasetLoaders.LoadCsv(path)).Message);
    }
}

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
    public void Id_files_with_bad_text_and_safetensors_with_bad_offsets_are_one_line()
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
    public void Training_on_a_csv_with_nothing_to_test_fails_before_writing_a_bundle()
    {
        using var dir = new TempDir();
        string csv = dir.File("one.csv");
        File.WriteAllText(csv, "user,item,timestamp\n100000,7,1\n");
        OneLine(["train", "--dataset", "csv", "--data-dir", csv, "--bundle", dir.File("bundle"), "--checkpoint-dir", dir.File("ck")], "two or more interactions");
        Assert.False(Directory.Exists(dir.File("bundle")));
    }

    [Theory]
    [InlineData("https://127.0.0.1:0", "HTTPS")]
    [InlineData("nonsense", "nonsense")]
    [InlineData("http://127.0.0.1:99999", "port")]
    [InlineData("http://300.1.1.1:80", "300.1.1.1")]
    [InlineData("http://example.com:80", "example.com")]
    public void Bad_listen_addresses_are_one_line(string url, string expected)
    {
        using var dir = new TempDir();
        OneLine(["serve", "--bundle", dir.Path, "--urls", url], expected);
    }

    [Fact]
    public void A_port_in_use_is_one_line()
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
