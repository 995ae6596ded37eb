using System.Buffers.Binary;
using System.Text;
using VectorRecall.IO;

namespace VectorRecall.Tests.IO;

public class NpyTests
{
    [Fact]
    public void RoundTripsEveryDtype()
    {
        using var dir = new TempDir();
        Npy.Write(dir.File("f.npy"), new float[] { 1.5f, -2f, 3f, 4f, 5f, 6f }, [2, 3]);
        Npy.Write(dir.File("d.npy"), new double[] { 1.25, -2 }, [2]);
        Npy.Write(dir.File("i.npy"), new int[] { 7, -8, 9 }, [3, 1]);
        Npy.Write(dir.File("l.npy"), new long[] { long.MaxValue, -1 }, [1, 2]);
        var f = Npy.Read(dir.File("f.npy"));
        Assert.Equal(ElementType.Float32, f.Type);
        Assert.Equal([2, 3], f.Shape);
        Assert.Equal([1.5f, -2f, 3f, 4f, 5f, 6f], (float[])f.Data);
        Assert.Equal([1.25, -2], (double[])Npy.Read(dir.File("d.npy")).Data);
        Assert.Equal([7, -8, 9], (int[])Npy.Read(dir.File("i.npy")).Data);
        Assert.Equal([long.MaxValue, -1L], (long[])Npy.Read(dir.File("l.npy")).Data);
        Assert.Equal([1, 2], Npy.Read(dir.File("l.npy")).Shape);
        Assert.Equal(2, Npy.ReadMatrix(dir.File("f.npy")).Rows);
        Assert.DoesNotContain(dir.Files(), n => n.Contains(".tmp"));
    }

    [Fact]
    public void WritesTheHeaderNumPyWrites()
    {
        using var dir = new TempDir();
        Npy.Write(dir.File("x.npy"), new float[] { 1, 2, 3, 4, 5, 6 }, [2, 3]);
        var bytes = File.ReadAllBytes(dir.File("x.npy"));
        Assert.Equal(128 + 24, bytes.Length);
        Assert.Equal(1, bytes[6]);
        Assert.Equal(118, BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8)));
        string header = Encoding.Latin1.GetString(bytes, 10, 118);
        Assert.StartsWith("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", header);
        Assert.EndsWith(" \n", header);
    }

    [Fact]
    public void ReadsVersion2Headers()
    {
        using var dir = new TempDir();
        string dict = "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }";
        string header = dict.PadRight(64 - 12 - 1) + "\n";
        using (var s = File.Create(dir.File("v2.npy")))
        {
            s.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 2, 0]);
            var len = new byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(len, (uint)header.Length); s.Write(len);
            s.Write(Encoding.Latin1.GetBytes(header));
            foreach (long v in new long[] { 10, 20, 30 }) { var b = new byte[8]; BinaryPrimitives.WriteInt64LittleEndian(b, v); s.Write(b); }
        }
        var a = Npy.Read(dir.File("v2.npy"));
        Assert.Equal([10L, 20L, 30L], (long[])a.Data);
        Assert.Equal([3], a.Shape);
    }

    [Theory]
    [InlineData("truncated", "truncated")]
    [InlineData("trailing", "trailing bytes")]
    [InlineData("magic", "not a .npy file")]
    [InlineData("dtype", "unsupported dtype '<f2'")]
    [InlineData("bigendian", "unsupported dtype '>f4'")]
    [InlineData("fortran", "Fortran-order")]
    [InlineData("header", "malformed header")]
    [InlineData("version", "unsupported .npy version")]
    [InlineData("lies", "truncated")]
    public void MalformedFilesGiveClearErrors(string kind, string expected)
    {
        using var dir = new TempDir();
        string path = dir.File("bad.npy");
        Npy.Write(path, new float[] { 1, 2, 3, 4 }, [2, 2]);
        var bytes = File.ReadAllBytes(path);
        string text = Encoding.Latin1.GetString(bytes);
        bytes = kind switch
        {
            "truncated" => bytes[..^3],
            "trailing" => [.. bytes, 0, 0, 0, 0],
            "magic" => [0x50, 0x4B, .. bytes[2..]],
            "dtype" => Encoding.Latin1.GetBytes(text.Replace("<f4", "<f2")),
            "bigendian" => Encoding.Latin1.GetBytes(text.Replace("<f4", ">f4")),
            "fortran" => Encoding.Latin1.GetBytes(text.Replace("False", "True ")),
            "header" => Encoding.Latin1.GetBytes(text.Replace("'shape'", "'shabe'")),
            "version" => [.. bytes[..6], 9, .. bytes[7..]],
            "lies" => Encoding.Latin1.GetBytes(text.Replace("(2, 2)", "(9, 2)")),
            _ => bytes,
        };
        File.WriteAllBytes(path, bytes);
        var ex = Assert.Throws<FileFormatException>(() => Npy.Read(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void MissingFileAndWrongShapeAreReported()
    {
        using var dir = new TempDir();
        Assert.Contains("not found", Assert.Throws<FileNotFoundException>(() => Npy.Read(dir.File("nope.npy"))).Message);
        Assert.Throws<ArgumentException>(() => Npy.Write(dir.File("x.npy"), new float[3], [2, 2]));
        Assert.Empty(dir.Files());
        Npy.Write(dir.File("i.npy"), new int[] { 1 }, [1]);
        Assert.Contains("expected float32", Assert.Throws<FileFormatException>(() => Npy.ReadMatrix(dir.File("i.npy"))).Message);
    }
}
