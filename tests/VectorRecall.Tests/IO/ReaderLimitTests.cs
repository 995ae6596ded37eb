using System.Buffers.Binary;
using System.Text;
using VectorRecall.Data;
using VectorRecall.Indexing;
using VectorRecall.IO;
using VectorRecall.Numerics;
using VectorRecall.SemanticIds;

namespace VectorRecall.Tests.IO;

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
    public void AVrixHeaderThatClaimsMoreThanTheFileHoldsIsRefusedBeforeAllocating(int offset, long value, string expected)
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
    public void AHugeNpyShapeIsTooLargeNotANegativeSize()
    {
        using var dir = new TempDir();
        string path = dir.File("huge.npy");
        VectorRecall.IO.Npy.Write(path, new float[4], [2, 2]);
        var text = Encoding.Latin1.GetString(File.ReadAllBytes(path)).Replace("(2, 2)", "(4294967295, 4294967295)", StringComparison.Ordinal).Replace("(2, 2)", "(2147483647, 2147483647, 2147483647)", StringComparison.Ordinal);
        File.WriteAllBytes(path, Encoding.Latin1.GetBytes(text));
        var e = Assert.Throws<FileFormatException>(() => VectorRecall.IO.Npy.Read(path));
        Assert.DoesNotContain("-", e.Problem);

        VectorRecall.IO.Npy.Write(path, new float[4], [2, 2]);
        text = Encoding.Latin1.GetString(File.ReadAllBytes(path)).Replace("(2, 2),", "(2147483647, 2147483647, 8),", StringComparison.Ordinal);
        File.WriteAllBytes(path, Encoding.Latin1.GetBytes(text));
        e = Assert.Throws<FileFormatException>(() => VectorRecall.IO.Npy.Read(path));
        Assert.Contains("too large", e.Problem);
    }

    [Fact]
    public void AnEmptyVectorFileSaysItHoldsNoVectors()
    {
        using var dir = new TempDir();
        string path = dir.File("empty.npy");
        VectorRecall.IO.Npy.Write(path, Array.Empty<float>(), [0, 16]);
        Assert.Contains("holds no vectors", Assert.Throws<FileFormatException>(() => VectorFiles.ReadMatrix(path)).Message);
    }

    [Fact]
    public void SafetensorsOffsetsThatAreStringsAreAFormatError()
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
    public void SemanticIdFilesWithBadTextAreAFormatError(byte[] content)
    {
        using var dir = new TempDir();
        string path = dir.File("ids.json");
        File.WriteAllBytes(path, content);
        Assert.StartsWith(path, Assert.Throws<FileFormatException>(() => SemanticIdFile.Read(path)).Message);
    }

    [Fact]
    public void SemanticIdFilesWithAKeyTwiceAreRefused()
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
    public void CsvTimestampsMustBeFinite(string timestamp)
    {
        using var dir = new TempDir();
        string path = dir.File("i.csv");
        File.WriteAllText(path, $"1,10,1\n1,11,{timestamp}\n1,12,3\n");
        Assert.Contains("line 2", Assert.Throws<FileFormatException>(() => DatasetLoaders.LoadDelimited(path)).Message);
    }
}
