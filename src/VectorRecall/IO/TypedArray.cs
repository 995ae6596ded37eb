using System.Runtime.InteropServices;
using VectorRecall.Numerics;

namespace VectorRecall.IO;

/// <summary>The element types the file formats carry.</summary>
public enum ElementType { Float32, Float64, Int32, Int64 }

/// <summary>An array read from a file (.npy, safetensors): its element type, its shape and its values (float[], double[], int[] or long[]).</summary>
public sealed record TypedArray(ElementType Type, int[] Shape, Array Data)
{
    public static int SizeOf(ElementType type) => type is ElementType.Float32 or ElementType.Int32 ? 4 : 8;

    /// <summary>A zeroed array of the given type and shape, for readers to fill through <see cref="RawBytes"/>.</summary>
    public static TypedArray Allocate(ElementType type, int[] shape)
    {
        long count = 1;
        foreach (int d in shape) count *= d;
        Array data = type switch
        {
            ElementType.Float32 => new float[count],
            ElementType.Float64 => new double[count],
            ElementType.Int32 => new int[count],
            _ => new long[count],
        };
        return new TypedArray(type, shape, data);
    }

    /// <summary>The values as raw little-endian bytes (a view, not a copy).</summary>
    public Span<byte> RawBytes() => Data switch
    {
        float[] f => MemoryMarshal.AsBytes(f.AsSpan()),
        double[] d => MemoryMarshal.AsBytes(d.AsSpan()),
        int[] i => MemoryMarshal.AsBytes(i.AsSpan()),
        long[] l => MemoryMarshal.AsBytes(l.AsSpan()),
        _ => throw new InvalidOperationException("unknown array type"),
    };

    public long Count => Data.LongLength;

    /// <summary>The values as a float32 tensor of the same shape (float64 and integers are converted).</summary>
    public Tensor ToTensor()
    {
        float[] values = Data switch
        {
            float[] f => f,
            double[] d => Array.ConvertAll(d, v => (float)v),
            int[] i => Array.ConvertAll(i, v => (float)v),
            long[] l => Array.ConvertAll(l, v => (float)v),
            _ => throw new InvalidOperationException("unknown npy data"),
        };
        return Tensor.FromArray(values, Shape);
    }
}
