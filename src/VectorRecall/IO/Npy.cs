using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using VectorRecall.Numerics;

namespace VectorRecall.IO;

/// <summary>
/// NumPy's .npy format (versions 1, 2 and 3 read; version 1, or 2 when the header needs it, written),
/// little-endian float32, float64, int32 and int64 in C order — what <c>np.save</c> writes by default.
/// </summary>
public static partial class Npy
{
    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    public static TypedArray Read(string path)
    {
        using var stream = BinaryFiles.OpenRead(path);
        return Read(stream, path);
    }

    /// <summary>A float32 matrix (rank 2; rank 1 is read as one row). float64 is converted.</summary>
    public static Tensor ReadMatrix(string path)
    {
        var array = Read(path);
        if (array.Type is not (ElementType.Float32 or ElementType.Float64))
            throw new FileFormatException(path, $"expected float32 or float64 values, found {Describe(array.Type)}");
        if (array.Shape.Length is not (1 or 2))
            throw new FileFormatException(path, $"expected a matrix, found shape ({string.Join(", ", array.Shape)})");
        return array.ToTensor();
    }

    public static TypedArray Read(Stream stream, string name)
    {
        var prefix = new byte[10];
        BinaryFiles.ReadExactly(stream, prefix, name, "the header");
        if (!prefix.AsSpan(0, 6).SequenceEqual(Magic)) throw new FileFormatException(name, "not a .npy file (magic bytes \\x93NUMPY missing)");
        int major = prefix[6];
        int headerLength;
        if (major == 1) headerLength = BinaryPrimitives.ReadUInt16LittleEndian(prefix.AsSpan(8));
        else if (major is 2 or 3)
        {
            var more = new byte[2];
            BinaryFiles.ReadExactly(stream, more, name, "the header length");
            uint len = BinaryPrimitives.ReadUInt32LittleEndian([prefix[8], prefix[9], more[0], more[1]]);
            if (len > 1 << 20) throw new FileFormatException(name, $"header length {len} is implausibly large");
            headerLength = (int)len;
        }
        else throw new FileFormatException(name, $"unsupported .npy version {major}.{prefix[7]}");

        if (stream.CanSeek && stream.Length - stream.Position < headerLength)
            throw new FileFormatException(name, $"truncated: header says {headerLength} bytes, file has {stream.Length - stream.Position} left");
        var headerBytes = new byte[headerLength];
        BinaryFiles.ReadExactly(stream, headerBytes, name, "the header");
        string header = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(headerBytes);
        var (type, shape) = ParseHeader(header, name);

        int size = TypedArray.SizeOf(type);
        long count = 1;
        foreach (int d in shape)
        {
            // Checked as it grows, so a huge shape is "too large", never an overflowed (negative) size.
            count *= d;
            if (count * size > Array.MaxLength) throw new FileFormatException(name, $"shape ({string.Join(", ", shape)}) is too large to load");
        }
        if (stream.CanSeek)
        {
            long left = stream.Length - stream.Position;
            if (left != count * size)
                throw new FileFormatException(name, $"{(left < count * size ? "truncated" : "trailing bytes")}: shape ({string.Join(", ", shape)}) of {Describe(type)} needs {count * size} data bytes, file has {left}");
        }
        else stream = Buffered(stream, count * size, name);
        var array = TypedArray.Allocate(type, shape);
        BinaryFiles.ReadExactly(stream, array.RawBytes(), name, "the data");
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian hosts are not supported");
        return array;
    }

    /// <summary>
    /// The data of a stream whose length is unknown (a pipe), read in bounded chunks before anything is
    /// allocated by the header's word: memory follows the bytes that really arrive.
    /// </summary>
    private static MemoryStream Buffered(Stream stream, long expected, string name)
    {
        var data = new MemoryStream();
        var chunk = new byte[1 << 16];
        while (data.Length < expected)
        {
            int n = stream.Read(chunk, 0, (int)Math.Min(chunk.Length, expected - data.Length));
            if (n == 0) throw new FileFormatException(name, $"truncated: the header implies {expected} data bytes, the stream ended after {data.Length}");
            data.Write(chunk, 0, n);
        }
        data.Position = 0;
        return data;
    }

    public static void Write(string path, Tensor tensor) => Write(path, tensor.Span, tensor.Shape);

    public static void Write(string path, ReadOnlySpan<float> values, ReadOnlySpan<int> shape) => WriteRaw(path, ElementType.Float32, MemoryMarshal.AsBytes(values), values.Length, shape);
    public static void Write(string path, ReadOnlySpan<double> values, ReadOnlySpan<int> shape) => WriteRaw(path, ElementType.Float64, MemoryMarshal.AsBytes(values), values.Length, shape);
    public static void Write(string path, ReadOnlySpan<int> values, ReadOnlySpan<int> shape) => WriteRaw(path, ElementType.Int32, MemoryMarshal.AsBytes(values), values.Length, shape);
    public static void Write(string path, ReadOnlySpan<long> values, ReadOnlySpan<int> shape) => WriteRaw(path, ElementType.Int64, MemoryMarshal.AsBytes(values), values.Length, shape);

    private static void WriteRaw(string path, ElementType type, ReadOnlySpan<byte> data, int count, ReadOnlySpan<int> shape)
    {
        long expected = 1;
        foreach (int d in shape) expected *= d;
        if (expected != count) throw new ArgumentException($"{path}: shape ({string.Join(", ", shape.ToArray())}) needs {expected} values, got {count}");
        string shapeText = shape.Length switch
        {
            0 => "()",
            1 => $"({shape[0]},)",
            _ => "(" + string.Join(", ", shape.ToArray()) + ")",
        };
        string dict = $"{{'descr': '{Descr(type)}', 'fortran_order': False, 'shape': {shapeText}, }}";
        // The header (with its prefix) is padded with spaces to a multiple of 64 bytes and ends in '\n'.
        int prefixV1 = 10, prefixV2 = 12;
        int version = dict.Length + 1 + prefixV1 <= ushort.MaxValue ? 1 : 2;
        int prefix = version == 1 ? prefixV1 : prefixV2;
        int total = (prefix + dict.Length + 1 + 63) / 64 * 64;
        string header = dict.PadRight(total - prefix - 1) + "\n";
        var buffer = data.ToArray();
        AtomicFile.Write(path, s =>
        {
            s.Write(Magic);
            s.WriteByte((byte)version);
            s.WriteByte(0);
            Span<byte> len = stackalloc byte[4];
            if (version == 1) { BinaryPrimitives.WriteUInt16LittleEndian(len, (ushort)header.Length); s.Write(len[..2]); }
            else { BinaryPrimitives.WriteUInt32LittleEndian(len, (uint)header.Length); s.Write(len); }
            s.Write(Encoding.Latin1.GetBytes(header));
            s.Write(buffer);
        });
    }

    private static (ElementType, int[]) ParseHeader(string header, string name)
    {
        var descr = DescrPattern().Match(header);
        var fortran = FortranPattern().Match(header);
        var shape = ShapePattern().Match(header);
        if (!descr.Success || !fortran.Success || !shape.Success)
            throw new FileFormatException(name, $"malformed header: expected 'descr', 'fortran_order' and 'shape', found {header.Trim()}");
        if (fortran.Groups[1].Value == "True") throw new FileFormatException(name, "Fortran-order arrays are not supported; save with np.ascontiguousarray");
        ElementType type = descr.Groups[1].Value switch
        {
            "<f4" => ElementType.Float32,
            "<f8" => ElementType.Float64,
            "<i4" => ElementType.Int32,
            "<i8" => ElementType.Int64,
            var d => throw new FileFormatException(name, $"unsupported dtype '{d}': expected little-endian float32, float64, int32 or int64 (<f4, <f8, <i4, <i8)"),
        };
        var dims = new List<int>();
        foreach (var part in shape.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part.TrimEnd('L'), NumberStyles.None, CultureInfo.InvariantCulture, out int d))
                throw new FileFormatException(name, $"malformed shape entry '{part}' in header");
            dims.Add(d);
        }
        return (type, dims.ToArray());
    }

    private static string Descr(ElementType type) => type switch
    {
        ElementType.Float32 => "<f4", ElementType.Float64 => "<f8", ElementType.Int32 => "<i4", _ => "<i8",
    };

    private static string Describe(ElementType type) => type.ToString().ToLowerInvariant();

    [GeneratedRegex(@"'descr'\s*:\s*'([^']*)'")]
    private static partial Regex DescrPattern();

    [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")]
    private static partial Regex FortranPattern();

    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")]
    private static partial Regex ShapePattern();
}
