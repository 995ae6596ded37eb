using System.Buffers.Binary;
using System.Text;
using VectorRecall.IO;
using VectorRecall.Nn;
using VectorRecall.Numerics;

namespace VectorRecall.Tests;

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

public class SafeTensorsTests
{
    [Fact]
    public void BytesMatchTheLayoutWrittenOutByHand()
    {
        using var dir = new TempDir();
        string path = dir.File("m.safetensors");
        SafeTensors.Write(path,
            [
                KeyValuePair.Create("w", new TypedArray(ElementType.Float32, [2], new float[] { 1f, -2f })),
                KeyValuePair.Create("ids", new TypedArray(ElementType.Int64, [1], new long[] { 5 })),
            ],
            new Dictionary<string, string> { ["format"] = "pt" });
        string json = "{\"__metadata__\":{\"format\":\"pt\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"ids\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[8,16]}}";
        Assert.Equal(141, json.Length);
        var expected = new List<byte>();
        expected.AddRange([144, 0, 0, 0, 0, 0, 0, 0]);             // header length, padded to a multiple of 8
        expected.AddRange(Encoding.UTF8.GetBytes(json + "   "));
        expected.AddRange([0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0]); // 1.0f, -2.0f
        expected.AddRange([5, 0, 0, 0, 0, 0, 0, 0]);                 // 5L
        Assert.Equal(expected.ToArray(), File.ReadAllBytes(path));

        var (tensors, metadata) = SafeTensors.Read(path);
        Assert.Equal("pt", metadata["format"]);
        Assert.Equal([1f, -2f], (float[])tensors["w"].Data);
        Assert.Equal([5L], (long[])tensors["ids"].Data);
    }

    [Fact]
    public void ModuleRoundTripGivesIdenticalOutputs()
    {
        using var dir = new TempDir();
        var rng = new Rng(5);
        var net = Mlp.Build([6, 16, 4], rng, new MlpOptions { BatchNorm = true, Activation = Activation.PRelu });
        // Move the batch-norm running statistics away from their defaults so that they matter.
        net.Forward(new Autograd.Variable(Tensor.Randn(rng, 2f, 32, 6)));
        net.Eval();
        var x = new Autograd.Variable(Tensor.Randn(rng, 1f, 5, 6));
        var before = net.Forward(x).Value.ToArray();
        string path = dir.File("net.safetensors");
        StateDictFile.Save(path, net, new Dictionary<string, string> { ["config"] = "{\"sizes\":[6,16,4]}" });

        var copy = Mlp.Build([6, 16, 4], new Rng(99), new MlpOptions { BatchNorm = true, Activation = Activation.PRelu });
        copy.Eval();
        Assert.NotEqual(before, copy.Forward(x).Value.ToArray());
        var metadata = StateDictFile.Load(path, copy);
        Assert.Equal("{\"sizes\":[6,16,4]}", metadata["config"]);
        Assert.Equal(before, copy.Forward(x).Value.ToArray());
    }

    [Fact]
    public void LoadingIntoAModuleOfAnotherShapeNamesTheTensor()
    {
        using var dir = new TempDir();
        string path = dir.File("net.safetensors");
        StateDictFile.Save(path, Mlp.Build([6, 16, 4], new Rng(1)));
        var other = Mlp.Build([6, 8, 4], new Rng(1));
        var ex = Assert.Throws<FileFormatException>(() => StateDictFile.Load(path, other));
        Assert.Contains(path, ex.Message);
        Assert.Contains("0.weight", ex.Message);
    }

    [Fact]
    public void LoadingWeightsOfTheWrongDtypeNamesTheTensor()
    {
        using var dir = new TempDir();
        string path = dir.File("ints.safetensors");
        var net = Mlp.Build([2, 3], new Rng(1));
        SafeTensors.Write(path,
            [
                KeyValuePair.Create("0.weight", new TypedArray(ElementType.Int32, [3, 2], new int[6])),
                KeyValuePair.Create("0.bias", new TypedArray(ElementType.Float32, [3], new float[3])),
            ]);
        var before = net.StateDict()["0.bias"].ToArray();
        var ex = Assert.Throws<FileFormatException>(() => StateDictFile.Load(path, net));
        Assert.Contains("'0.weight' is Int32, expected float32", ex.Message);
        Assert.Equal(before, net.StateDict()["0.bias"].ToArray());
    }

    [Theory]
    [InlineData("truncated", "truncated")]
    [InlineData("length", "header length")]
    [InlineData("json", "not valid JSON")]
    [InlineData("dtype", "unsupported dtype 'BF16'")]
    [InlineData("size", "needs 8 bytes")]
    [InlineData("overlap", "gap or overlap")]
    [InlineData("trailing", "trailing bytes")]
    public void CorruptFilesGiveClearErrors(string kind, string expected)
    {
        using var dir = new TempDir();
        string path = dir.File("bad.safetensors");
        SafeTensors.Write(path,
            [
                KeyValuePair.Create("a", new TypedArray(ElementType.Float32, [2], new float[] { 1, 2 })),
                KeyValuePair.Create("b", new TypedArray(ElementType.Int32, [2], new int[] { 3, 4 })),
            ]);
        var bytes = File.ReadAllBytes(path);
        string text = Encoding.Latin1.GetString(bytes);
        bytes = kind switch
        {
            "truncated" => bytes[..^2],
            "length" => [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, .. bytes[8..]],
            "json" => Encoding.Latin1.GetBytes(text.Replace("\"a\":", "\"a\"=")),
            "dtype" => Encoding.Latin1.GetBytes(text.Replace("\"F32\"", "\"BF16\"")),
            "size" => Encoding.Latin1.GetBytes(text.Replace("[2],\"data_offsets\":[0,8]", "[2],\"data_offsets\":[0,7]")),
            "overlap" => Encoding.Latin1.GetBytes(text.Replace("[8,16]", "[4,12]")),
            "trailing" => [.. bytes, 1, 2, 3, 4],
            _ => bytes,
        };
        File.WriteAllBytes(path, bytes);
        var ex = Assert.Throws<FileFormatException>(() => SafeTensors.Read(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void AFailedWriteLeavesTheOldFileAndNoTemporary()
    {
        using var dir = new TempDir();
        string path = dir.File("keep.bin");
        File.WriteAllText(path, "old");
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, s =>
        {
            s.Write(new byte[100]);
            throw new InvalidOperationException("interrupted");
        }));
        Assert.Equal("old", File.ReadAllText(path));
        Assert.Equal(["keep.bin"], dir.Files());
    }
}

public class VecsTests
{
    private static void WriteVecs(string path, int elementSize, params int[][] rows)
    {
        using var s = File.Create(path);
        foreach (var row in rows)
        {
            var d = new byte[4]; BinaryPrimitives.WriteInt32LittleEndian(d, row.Length); s.Write(d);
            foreach (int v in row)
            {
                if (elementSize == 1) s.WriteByte((byte)v);
                else if (elementSize == 4 && path.EndsWith(".fvecs")) { var b = new byte[4]; BinaryPrimitives.WriteSingleLittleEndian(b, v + 0.5f); s.Write(b); }
                else { var b = new byte[4]; BinaryPrimitives.WriteInt32LittleEndian(b, v); s.Write(b); }
            }
        }
    }

    [Fact]
    public void ReadsAllThreeKinds()
    {
        using var dir = new TempDir();
        WriteVecs(dir.File("a.fvecs"), 4, [1, 2, 3], [4, 5, 6]);
        WriteVecs(dir.File("a.ivecs"), 4, [7, 8], [9, 10], [11, 12]);
        WriteVecs(dir.File("a.bvecs"), 1, [255, 0, 7, 1]);
        var f = Vecs.ReadFvecs(dir.File("a.fvecs"));
        Assert.Equal([1.5f, 2.5f, 3.5f, 4.5f, 5.5f, 6.5f], f.ToArray());
        Assert.Equal(2, f.Rows);
        var i = Vecs.ReadIvecs(dir.File("a.ivecs"));
        Assert.Equal([7, 8, 9, 10, 11, 12], i.Data);
        Assert.Equal([3, 2], i.Shape.ToArray());
        Assert.Equal([255f, 0f, 7f, 1f], Vecs.ReadBvecs(dir.File("a.bvecs")).ToArray());
        Assert.Equal(1, Vecs.ReadFvecs(dir.File("a.fvecs"), maxRows: 1).Rows);
    }

    [Fact]
    public void MalformedFilesGiveClearErrors()
    {
        using var dir = new TempDir();
        string path = dir.File("bad.fvecs");
        WriteVecs(path, 4, [1, 2, 3], [4, 5, 6]);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^2]);
        var ex = Assert.Throws<FileFormatException>(() => Vecs.ReadFvecs(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains("not a multiple", ex.Message);

        WriteVecs(path, 4, [1, 2, 3], [4, 5, 6]);
        bytes = File.ReadAllBytes(path);
        bytes[16] = 2; // second vector claims dimension 2
        File.WriteAllBytes(path, bytes);
        Assert.Contains("vector 1 has dimension 2", Assert.Throws<FileFormatException>(() => Vecs.ReadFvecs(path)).Message);

        File.WriteAllBytes(path, [0, 0, 0, 0x80, 1, 2, 3, 4]);
        Assert.Contains("not plausible", Assert.Throws<FileFormatException>(() => Vecs.ReadFvecs(path)).Message);
        File.WriteAllBytes(path, [1, 0]);
        Assert.Contains("too short", Assert.Throws<FileFormatException>(() => Vecs.ReadFvecs(path)).Message);
    }
}
