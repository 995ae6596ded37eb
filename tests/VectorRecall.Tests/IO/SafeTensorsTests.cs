using System.Buffers.Binary;
using System.Text;
using VectorRecall.IO;
using VectorRecall.Nn;
using VectorRecall.Numerics;

namespace VectorRecall.Tests.IO;

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
        net.Forward(new VectorRecall.Autograd.Variable(Tensor.Randn(rng, 2f, 32, 6)));
        net.Eval();
        var x = new VectorRecall.Autograd.Variable(Tensor.Randn(rng, 1f, 5, 6));
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
