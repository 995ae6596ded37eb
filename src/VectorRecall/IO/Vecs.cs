using System.Buffers.Binary;
using System.Runtime.InteropServices;
using VectorRecall.Numerics;

namespace VectorRecall.IO;

/// <summary>
/// The TEXMEX vector files used by ANN benchmarks (SIFT, GIST, Deep1B): each vector is an int32
/// dimension followed by that many float32 (.fvecs), int32 (.ivecs) or uint8 (.bvecs) values.
/// </summary>
internal static class Vecs
{
    /// <summary>Reads up to <paramref name="maxRows"/> vectors (all by default) as a [rows × dim] tensor.</summary>
    public static Tensor ReadFvecs(string path, int maxRows = int.MaxValue)
    {
        var (rows, dim, raw) = ReadRaw(path, 4, maxRows);
        var t = new Tensor(rows, dim);
        for (int r = 0; r < rows; r++)
            MemoryMarshal.Cast<byte, float>(raw.AsSpan(RowStart(r, dim, 4), dim * 4)).CopyTo(t.Row(r));
        return t;
    }

    public static IndexTensor<int> ReadIvecs(string path, int maxRows = int.MaxValue)
    {
        var (rows, dim, raw) = ReadRaw(path, 4, maxRows);
        var t = new IndexTensor<int>(rows, dim);
        for (int r = 0; r < rows; r++)
            MemoryMarshal.Cast<byte, int>(raw.AsSpan(RowStart(r, dim, 4), dim * 4)).CopyTo(t.Span.Slice(r * dim, dim));
        return t;
    }

    /// <summary>Reads byte vectors, converted to float32 for indexing.</summary>
    public static Tensor ReadBvecs(string path, int maxRows = int.MaxValue)
    {
        var (rows, dim, raw) = ReadRaw(path, 1, maxRows);
        var t = new Tensor(rows, dim);
        for (int r = 0; r < rows; r++)
        {
            var src = raw.AsSpan(RowStart(r, dim, 1), dim);
            var dst = t.Row(r);
            for (int j = 0; j < dim; j++) dst[j] = src[j];
        }
        return t;
    }

    private static int RowStart(int row, int dim, int size) => row * (4 + dim * size) + 4;

    private static (int Rows, int Dim, byte[] Raw) ReadRaw(string path, int elementSize, int maxRows)
    {
        using var stream = BinaryFiles.OpenRead(path);
        long length = stream.Length;
        if (length < 4) throw new FileFormatException(path, $"truncated: {length} bytes is too short for a vector header");
        var head = new byte[4];
        BinaryFiles.ReadExactly(stream, head, path, "the first dimension");
        int dim = BinaryPrimitives.ReadInt32LittleEndian(head);
        if (dim <= 0 || dim > 1 << 20) throw new FileFormatException(path, $"first vector's dimension {dim} is not plausible (expected 1 to {1 << 20})");
        long rowBytes = 4 + (long)dim * elementSize;
        if (length % rowBytes != 0)
            throw new FileFormatException(path, $"size {length} is not a multiple of {rowBytes} bytes per vector (dimension {dim}): truncated or not a {Extension(elementSize)} file");
        long available = length / rowBytes;
        int rows = (int)Math.Min(available, maxRows);
        if ((long)rows * rowBytes > Array.MaxLength) throw new FileFormatException(path, $"{rows} vectors of dimension {dim} are too many to load at once; pass a row limit");
        var raw = new byte[rows * rowBytes];
        stream.Position = 0;
        BinaryFiles.ReadExactly(stream, raw, path, "the vectors");
        for (int r = 0; r < rows; r++)
        {
            int d = BinaryPrimitives.ReadInt32LittleEndian(raw.AsSpan((int)(r * rowBytes), 4));
            if (d != dim) throw new FileFormatException(path, $"vector {r} has dimension {d}, the first has {dim}");
        }
        return (rows, dim, raw);
    }

    private static string Extension(int elementSize) => elementSize == 1 ? ".bvecs" : ".fvecs/.ivecs";
}
