using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace VectorRecall.IO;

/// <summary>
/// The safetensors format: an 8-byte little-endian header length, a JSON header naming each
/// tensor's dtype, shape and byte range, then the raw little-endian data. The optional
/// <c>__metadata__</c> entry maps strings to strings (a model keeps its configuration there).
/// Files written here are read by the Python <c>safetensors</c> package and the other way round.
/// </summary>
public static class SafeTensors
{
    private const string MetadataKey = "__metadata__";
    private const long MaxHeaderBytes = 100_000_000;

    /// <summary>Writes tensors in the order given (the header lists them in the same order), atomically.</summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, TypedArray>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, _) in list)
        {
            if (name == MetadataKey) throw new ArgumentException($"{path}: '{MetadataKey}' is reserved and cannot name a tensor");
            if (!names.Add(name)) throw new ArgumentException($"{path}: tensor '{name}' appears twice");
        }
        byte[] header = BuildHeader(list, metadata);
        AtomicFile.Write(path, s =>
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
            s.Write(len);
            s.Write(header);
            foreach (var (_, t) in list) s.Write(t.RawBytes());
        });
    }

    /// <summary>The JSON header, padded with spaces to a multiple of 8 bytes as the format recommends.</summary>
    internal static byte[] BuildHeader(IReadOnlyList<KeyValuePair<string, TypedArray>> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(MetadataKey);
                foreach (var (k, v) in metadata) json.WriteString(k, v);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, t) in tensors)
            {
                long bytes = t.Data.LongLength * TypedArray.SizeOf(t.Type);
                json.WriteStartObject(name);
                json.WriteString("dtype", DType(t.Type));
                json.WriteStartArray("shape");
                foreach (int d in t.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + bytes);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += bytes;
            }
            json.WriteEndObject();
        }
        int length = (int)buffer.Length, padded = (length + 7) / 8 * 8;
        var header = new byte[padded];
        buffer.ToArray().CopyTo(header, 0);
        header.AsSpan(length).Fill((byte)' ');
        return header;
    }

    /// <summary>Reads every tensor and the metadata, checking the header against the file.</summary>
    public static (Dictionary<string, TypedArray> Tensors, Dictionary<string, string> Metadata) Read(string path)
    {
        using var stream = BinaryFiles.OpenRead(path);
        var (metadata, entries, dataStart) = ReadHeader(stream, path);
        var tensors = new Dictionary<string, TypedArray>(StringComparer.Ordinal);
        foreach (var e in entries)
        {
            var array = TypedArray.Allocate(e.Type, e.Shape);
            stream.Position = dataStart + e.Start;
            BinaryFiles.ReadExactly(stream, array.RawBytes(), path, $"tensor '{e.Name}'");
            tensors.Add(e.Name, array);
        }
        return (tensors, metadata);
    }

    /// <summary>The metadata alone (the header is checked against the file; no tensor is read).</summary>
    public static Dictionary<string, string> ReadMetadata(string path)
    {
        using var stream = BinaryFiles.OpenRead(path);
        return ReadHeader(stream, path).Metadata;
    }

    /// <summary>Parses and checks the header: metadata, each tensor's byte range, and where the data section starts.</summary>
    private static (Dictionary<string, string> Metadata, List<(string Name, ElementType Type, int[] Shape, long Start, long End)> Entries, long DataStart)
        ReadHeader(Stream stream, string path)
    {
        long fileLength = stream.Length;
        var lenBytes = new byte[8];
        BinaryFiles.ReadExactly(stream, lenBytes, path, "the header length");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
        if (headerLength < 2 || headerLength > MaxHeaderBytes || (long)headerLength > fileLength - 8)
            throw new FileFormatException(path, $"header length {headerLength} is impossible for a file of {fileLength} bytes (truncated or not a safetensors file)");
        var headerBytes = new byte[headerLength];
        BinaryFiles.ReadExactly(stream, headerBytes, path, "the header");
        long dataLength = fileLength - 8 - (long)headerLength;

        using var doc = JsonFields.ParseDocument(headerBytes.AsMemory().TrimEnd((byte)' '), path, "the header");
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new FileFormatException(path, "header is not a JSON object");

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var entries = new List<(string Name, ElementType Type, int[] Shape, long Start, long End)>();
        foreach (var prop in doc.RootElement.EnumerateObject())
        {
            if (prop.Name == MetadataKey)
            {
                if (prop.Value.ValueKind != JsonValueKind.Object) throw new FileFormatException(path, "__metadata__ is not an object");
                foreach (var m in prop.Value.EnumerateObject())
                {
                    if (m.Value.ValueKind != JsonValueKind.String) throw new FileFormatException(path, $"__metadata__ value '{m.Name}' is not a string");
                    metadata[m.Name] = m.Value.GetString()!;
                }
                continue;
            }
            entries.Add(ParseEntry(path, prop));
        }

        // The byte ranges must tile the data section exactly: no gaps, no overlaps, nothing past the end.
        long expected = 0;
        foreach (var e in entries.OrderBy(e => e.Start))
        {
            if (e.Start != expected) throw new FileFormatException(path, $"tensor '{e.Name}' starts at byte {e.Start} of the data, expected {expected} (gap or overlap)");
            expected = e.End;
        }
        if (expected != dataLength)
            throw new FileFormatException(path, $"{(expected > dataLength ? "truncated" : "trailing bytes")}: header describes {expected} data bytes, file has {dataLength}");
        return (metadata, entries, 8 + (long)headerLength);
    }

    private static (string, ElementType, int[], long, long) ParseEntry(string path, JsonProperty prop)
    {
        string name = prop.Name;
        var v = prop.Value;
        if (v.ValueKind != JsonValueKind.Object
            || !v.TryGetProperty("dtype", out var dtype) || dtype.ValueKind != JsonValueKind.String
            || !v.TryGetProperty("shape", out var shapeEl) || shapeEl.ValueKind != JsonValueKind.Array
            || !v.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
            throw new FileFormatException(path, $"tensor '{name}': expected dtype, shape and two data_offsets");
        ElementType type = dtype.GetString() switch
        {
            "F32" => ElementType.Float32,
            "F64" => ElementType.Float64,
            "I32" => ElementType.Int32,
            "I64" => ElementType.Int64,
            var d => throw new FileFormatException(path, $"tensor '{name}': unsupported dtype '{d}' (expected F32, F64, I32 or I64)"),
        };
        var shape = new List<int>();
        long count = 1;
        foreach (var d in shapeEl.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt32(out int dim) || dim < 0)
                throw new FileFormatException(path, $"tensor '{name}': shape entry {d} is not a non-negative integer");
            shape.Add(dim);
            count *= dim;
            if (count > Array.MaxLength) throw new FileFormatException(path, $"tensor '{name}': shape is too large");
        }
        if (offsets[0].ValueKind != JsonValueKind.Number || offsets[1].ValueKind != JsonValueKind.Number
            || !offsets[0].TryGetInt64(out long start) || !offsets[1].TryGetInt64(out long end) || start < 0 || end < start)
            throw new FileFormatException(path, $"tensor '{name}': data_offsets are not an increasing pair of non-negative integers");
        long bytes = count * TypedArray.SizeOf(type);
        if (end - start != bytes)
            throw new FileFormatException(path, $"tensor '{name}': shape [{string.Join(", ", shape)}] of {type} needs {bytes} bytes, data_offsets give {end - start}");
        return (name, type, shape.ToArray(), start, end);
    }

    private static string DType(ElementType type) => type switch
    {
        ElementType.Float32 => "F32", ElementType.Float64 => "F64", ElementType.Int32 => "I32", _ => "I64",
    };
}
