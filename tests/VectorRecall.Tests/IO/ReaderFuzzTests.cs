using System.Buffers;
using System.Globalization;
using System.Text;
using CsCheck;
using VectorRecall.Data;
using VectorRecall.Indexing;
using VectorRecall.IO;
using VectorRecall.Numerics;
using VectorRecall.SemanticIds;
using VectorRecall.Server;
using VectorRecall.Serving;
using VectorRecall.Tdm;

namespace VectorRecall.Tests.IO;

/// <summary>
/// Property-based fuzzing of every reader: random bytes, random mutations of a valid file and random
/// truncations give a valid result or a clear error naming the file — never another exception, never
/// an allocation far beyond the input's size, never a hang. Each reader runs
/// <see cref="Iterations"/> cases (2,000; set VRECALL_FUZZ_ITERATIONS for more); CsCheck prints the
/// seed of any failing case, and <c>seed:</c> on <c>Sample</c> replays it.
/// </summary>
public class ReaderFuzzTests
{
    internal static long Iterations =>
        long.TryParse(Environment.GetEnvironmentVariable("VRECALL_FUZZ_ITERATIONS"), NumberStyles.None, CultureInfo.InvariantCulture, out long n) && n > 0 ? n : 2000;

    /// <summary>Random bytes, or the valid file with a few bytes set, a slice cut out or inserted, or its end cut off.</summary>
    internal static Gen<byte[]> Mutations(byte[] valid) => Gen.OneOf(
        Gen.Byte.Array[0, 600],
        Gen.Select(Gen.Int[0, Math.Max(0, valid.Length - 1)], Gen.Byte).Array[1, 8].Select(edits =>
        {
            var copy = (byte[])valid.Clone();
            foreach (var (at, value) in edits) if (at < copy.Length) copy[at] = value;
            return copy;
        }),
        Gen.Select(Gen.Int[0, valid.Length], Gen.Int[0, 16]).Select((at, n) => valid.Take(at).Concat(valid.Skip(Math.Min(valid.Length, at + n))).ToArray()),
        Gen.Select(Gen.Int[0, valid.Length], Gen.Byte.Array[1, 16]).Select((at, bytes) => valid.Take(at).Concat(bytes).Concat(valid.Skip(at)).ToArray()),
        Gen.Int[0, valid.Length].Select(n => valid[..n]),
        Gen.Select(Gen.Int[0, valid.Length], Gen.Int[0, Nasty.Length - 1].Select(i => Nasty[i])).Select((at, token) => valid.Take(at).Concat(token).Concat(valid.Skip(at)).ToArray()));

    /// <summary>Tokens that broke readers before: lone surrogates, invalid bytes, non-finite and huge numbers, stray structure.</summary>
    private static readonly byte[][] Nasty =
    [
        "\\ud800"u8.ToArray(), "\"\\udc00\":1,"u8.ToArray(), [0xff, 0xfe], [0xc3], "NaN"u8.ToArray(), "-Infinity"u8.ToArray(), "1e999"u8.ToArray(),
        "99999999999999999999"u8.ToArray(), "-1"u8.ToArray(), "\""u8.ToArray(), "["u8.ToArray(), "{"u8.ToArray(), "}"u8.ToArray(), ","u8.ToArray(), "null"u8.ToArray(),
        "4294967295"u8.ToArray(), "\n"u8.ToArray(), [0],
    ];

    /// <summary>Runs <paramref name="read"/> on each generated file; only a <see cref="FileFormatException"/> (or a result) may come out.</summary>
    private static async Task FuzzFile(string extension, byte[] valid, Action<string> read)
    {
        using var dir = new TempDir();
        read(Write(dir, valid, extension));  // the valid file itself must read
        int next = 0;
        await Task.Run(() => Mutations(valid).Sample(bytes =>
        {
            string path = Write(dir, bytes, $"{Interlocked.Increment(ref next)}{extension}");
            long before = GC.GetAllocatedBytesForCurrentThread();
            try { read(path); }
            catch (FileFormatException e) { Assert.Contains(path, e.Message); }
            finally { File.Delete(path); }
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated <= (1 << 20) + 64L * bytes.Length, $"{allocated} bytes allocated for a {bytes.Length}-byte file");
        }, iter: Iterations, print: b => Convert.ToHexString(b))).WaitAsync(TimeSpan.FromMinutes(5));
    }

    private static string Write(TempDir dir, byte[] bytes, string name)
    {
        string path = dir.File(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static byte[] Made(string extension, Action<string> write)
    {
        using var dir = new TempDir();
        string path = dir.File("valid" + extension);
        write(path);
        return File.ReadAllBytes(path);
    }

    private static float[] Vectors(int n, int dim) => VectorSets.Clustered(n, dim, 4, 3);

    [Fact]
    public Task Npy() => FuzzFile(".npy", Made(".npy", p => VectorRecall.IO.Npy.Write(p, Tensor.FromArray(Vectors(5, 4), 5, 4))), p => VectorRecall.IO.Npy.Read(p));

    [Fact]
    public Task SafeTensorsFiles() => FuzzFile(".safetensors", Made(".safetensors", p => SafeTensors.Write(p,
        [KeyValuePair.Create("w", new TypedArray(ElementType.Float32, [3, 4], Vectors(3, 4))), KeyValuePair.Create("ids", new TypedArray(ElementType.Int64, [3], new long[] { 4, 5, 6 }))],
        new Dictionary<string, string> { ["format"] = "test", ["model_config"] = "{\"a\": 1}" })), p => SafeTensors.Read(p));

    [Fact]
    public Task HnswIndexFiles() => FuzzFile(".vrix", Made(".vrix", p =>
    {
        using var index = new HnswIndex(4, Metric.InnerProduct, new HnswOptions { M = 4, EfConstruction = 16, Threads = 1 });
        index.Add(VectorSets.Ids(12), Vectors(12, 4));
        index.Save(p);
    }), p => IndexFactory.Load(p).Dispose());

    [Fact]
    public Task FlatIndexFiles() => FuzzFile(".vrix", Made(".vrix", p =>
    {
        using var index = new FlatIndex(4, Metric.L2);
        index.Add(VectorSets.Ids(6), Vectors(6, 4));
        index.Save(p);
    }), p => IndexFactory.Load(p).Dispose());

    [Fact]
    public Task TreeFiles() => FuzzFile(".tree", Made(".tree", p => ItemTree.FromLeafCodes(2, 3, [7, 8, 9, 10, 11, 12], 4).Save(p)), p => ItemTree.Load(p));

    [Fact]
    public Task SemanticIdFiles() => FuzzFile(".json", Made(".json", p => SemanticIdFile.Write(p, new SemanticCodes([1, 2, 3, 0, 1, 2, 2, 3, 0], [4, 4, 4]), new long[] { 10, 11, 12 })), p => SemanticIdFile.Read(p));

    [Fact]
    public Task Fvecs() => FuzzFile(".fvecs", Made(".fvecs", p =>
    {
        using var w = new BinaryWriter(File.Create(p));
        var v = Vectors(4, 3);
        for (int r = 0; r < 4; r++) { w.Write(3); for (int j = 0; j < 3; j++) w.Write(v[r * 3 + j]); }
    }), p => Vecs.ReadFvecs(p));

    [Fact]
    public Task CsvInteractions() => FuzzFile(".csv", Encoding.UTF8.GetBytes("user,item,timestamp\n1,10,5\n1,11,6\n1,12,7\n2,10,1\n2,12,2\n2,13,3\n3,11,4\n3,13,5\n3,10,9\n"),
        p => DatasetLoaders.LoadDelimited(p));

    [Fact]
    public Task SequenceFiles() => FuzzFile(".txt", Encoding.UTF8.GetBytes("1 10 11 12\n2 10 12 13\n3 11 13 10 12\n"), p => DatasetLoaders.LoadSequences(p));

    [Fact]
    public Task Manifests() => FuzzFile(".json", Encoding.UTF8.GetBytes("""
        {"format": "vrecall-bundle", "version": 1, "created_utc": "2026-11-30T00:00:00Z", "model_config": {"num_users": 3},
         "index": "items.vrix", "index_type": "HnswIndex", "metric": "InnerProduct", "items": 10, "users": 3,
         "files": {"items.vrix": {"bytes": 100, "crc32c": "0011aabb"}}}
        """), p => ServingBundle.ParseManifest(File.ReadAllBytes(p), p));

    /// <summary>The HTTP request reader: any body is a request or a 4xx <see cref="RequestError"/>.</summary>
    [Fact]
    public async Task RequestBodies()
    {
        var limits = new RequestLimits(8, 50);
        var single = Encoding.UTF8.GetBytes("""{"user_id": 3, "features": [0.5, -1e3, 2], "history": [1000, 1001], "top_k": 10, "exclude_seen": true}""");
        var batch = Encoding.UTF8.GetBytes("""{"users": [{"user_id": 3, "history": [1000]}, {"user_id": 9, "features": [1, 2]}], "top_k": 5, "exclude_seen": false}""");
        RecallRequestReader.ReadRecall(new ReadOnlySequence<byte>(single), limits);
        RecallRequestReader.ReadBatch(new ReadOnlySequence<byte>(batch), limits);
        await Task.Run(() => Gen.OneOf(Mutations(single), Mutations(batch)).Sample(bytes =>
        {
            var body = new ReadOnlySequence<byte>(bytes);
            try { RecallRequestReader.ReadRecall(body, limits); }
            catch (RequestError e) { Assert.InRange(e.Status, 400, 499); }
            try { RecallRequestReader.ReadBatch(body, limits); }
            catch (RequestError e) { Assert.InRange(e.Status, 400, 499); }
        }, iter: Iterations, print: b => Convert.ToHexString(b))).WaitAsync(TimeSpan.FromMinutes(5));
    }
}
