namespace VectorRecall.Numerics;

/// <summary>
/// A dense, row-major float32 tensor. The first dimension is the row; everything after it is
/// flattened into the columns, so a rank-2 tensor is an ordinary matrix and a rank-1 tensor is a
/// single row. A tensor may be a view of a contiguous range of another tensor's rows (it shares
/// storage, like <c>torch.narrow</c> on dim 0).
/// </summary>
public sealed class Tensor
{
    private readonly int[] _shape;

    /// <summary>Backing storage; the tensor's elements are <c>Data[Offset .. Offset + Length)</c>.</summary>
    public float[] Data { get; }
    public int Offset { get; }
    public int Length { get; }

    public Tensor(params int[] shape) : this(NewStorage(shape), 0, shape) { }

    private Tensor(float[] data, int offset, int[] shape)
    {
        _shape = (int[])shape.Clone();
        Length = ElementCount(_shape);
        if (offset < 0 || offset + Length > data.Length)
            throw new ArgumentException($"shape [{string.Join(", ", shape)}] needs {Length} elements at offset {offset}, storage has {data.Length}");
        Data = data;
        Offset = offset;
    }

    /// <summary>Wraps the first elements of an array at least as long as the shape needs (no copy): a pooled array of a larger size class.</summary>
    internal static Tensor OverPrefix(float[] data, params int[] shape) => new(data, 0, shape);

    /// <summary>Wraps an existing array (no copy). Its length must equal the product of the shape.</summary>
    public static Tensor FromArray(float[] data, params int[] shape)
    {
        if (ElementCount(shape) != data.Length)
            throw new ArgumentException($"shape [{string.Join(", ", shape)}] has {ElementCount(shape)} elements, data has {data.Length}");
        return new Tensor(data, 0, shape);
    }

    public static Tensor Zeros(params int[] shape) => new(shape);

    public static Tensor Full(float value, params int[] shape)
    {
        var t = new Tensor(shape);
        t.Span.Fill(value);
        return t;
    }

    /// <summary>Standard normal entries scaled by <paramref name="std"/>.</summary>
    public static Tensor Randn(Rng rng, float std, params int[] shape)
    {
        var t = new Tensor(shape);
        rng.FillNormal(t.Span, 0f, std);
        return t;
    }

    /// <summary>Uniform entries in [low, high).</summary>
    public static Tensor Uniform(Rng rng, float low, float high, params int[] shape)
    {
        var t = new Tensor(shape);
        rng.FillUniform(t.Span, low, high);
        return t;
    }

    public ReadOnlySpan<int> Shape => _shape;
    public int Rank => _shape.Length;
    public int Rows => _shape.Length >= 2 ? _shape[0] : 1;
    public int Cols => _shape.Length >= 2 ? (_shape[0] == 0 ? 0 : Length / _shape[0]) : Length;

    public Span<float> Span => Data.AsSpan(Offset, Length);

    public Span<float> Row(int row)
    {
        if ((uint)row >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(row), $"row {row} of a tensor with {Rows} rows");
        int cols = Cols;
        return Data.AsSpan(Offset + row * cols, cols);
    }

    public ref float this[int row, int col]
    {
        get
        {
            int cols = Cols;
            if ((uint)row >= (uint)Rows || (uint)col >= (uint)cols)
                throw new IndexOutOfRangeException($"[{row}, {col}] outside [{Rows}, {cols}]");
            return ref Data[Offset + row * cols + col];
        }
    }

    public ref float this[int index] => ref Span[index];

    /// <summary>A view of rows [start, start + count) that shares this tensor's storage.</summary>
    public Tensor RowRange(int start, int count)
    {
        if (start < 0 || count < 0 || start + count > Rows)
            throw new ArgumentOutOfRangeException(nameof(start), $"rows [{start}, {start + count}) of a tensor with {Rows} rows");
        var shape = (int[])_shape.Clone();
        if (shape.Length == 0) shape = [1];
        shape[0] = count;
        return new Tensor(Data, Offset + start * Cols, shape);
    }

    /// <summary>The same elements under another shape (a view; storage is shared).</summary>
    public Tensor Reshape(params int[] shape)
    {
        if (ElementCount(shape) != Length)
            throw new ArgumentException($"cannot reshape [{string.Join(", ", _shape)}] to [{string.Join(", ", shape)}]");
        return new Tensor(Data, Offset, shape);
    }

    public Tensor Clone()
    {
        var t = new Tensor(_shape);
        Span.CopyTo(t.Span);
        return t;
    }

    public void CopyFrom(Tensor other)
    {
        if (!SameShape(other)) throw new ArgumentException($"shape {ShapeString(other.Shape)} does not match {ShapeString(Shape)}");
        other.Span.CopyTo(Span);
    }

    public void Clear() => Span.Clear();

    public bool SameShape(Tensor other) => Shape.SequenceEqual(other.Shape);

    public float[] ToArray() => Span.ToArray();

    public override string ToString() => $"Tensor{ShapeString(Shape)}";

    public static string ShapeString(ReadOnlySpan<int> shape) => "[" + string.Join(", ", shape.ToArray()) + "]";

    internal static int ElementCount(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"negative dimension in shape {ShapeString(shape)}");
            n *= d;
            if (n > Array.MaxLength) throw new ArgumentException($"shape {ShapeString(shape)} has more than {Array.MaxLength} elements");
        }
        return (int)n;
    }

    private static float[] NewStorage(int[] shape) => new float[ElementCount(shape)];
}

/// <summary>A dense row-major tensor of integer indices (int32 or int64): class ids, item ids, offsets.</summary>
internal sealed class IndexTensor<T> where T : unmanaged, System.Numerics.IBinaryInteger<T>
{
    private readonly int[] _shape;

    public T[] Data { get; }

    public IndexTensor(params int[] shape)
    {
        _shape = (int[])shape.Clone();
        Data = new T[Tensor.ElementCount(shape)];
    }

    public IndexTensor(T[] data, params int[] shape)
    {
        if (Tensor.ElementCount(shape) != data.Length)
            throw new ArgumentException($"shape {Tensor.ShapeString(shape)} has {Tensor.ElementCount(shape)} elements, data has {data.Length}");
        _shape = (int[])shape.Clone();
        Data = data;
    }

    public ReadOnlySpan<int> Shape => _shape;
    public int Length => Data.Length;
    public Span<T> Span => Data;

    public ref T this[int index] => ref Data[index];
}
