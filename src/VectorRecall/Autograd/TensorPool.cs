using VectorRecall.Numerics;

namespace VectorRecall.Autograd;

/// <summary>
/// Arrays for op results and gradients, kept per thread and reused step after step: a training
/// step allocates the same shapes every time, and fresh large arrays cost page faults, zeroing and
/// collections. Only a pooled <see cref="Tape"/> rents from it; it returns everything when disposed.
/// Arrays come in size classes (quarter steps between powers of two, so at most a quarter is unused):
/// a model whose batches vary in shape step to step (the sequence encoder's rows and lengths) reuses
/// a few classes instead of keeping an array of every length it ever saw.
/// </summary>
internal sealed class TensorPool
{
    [ThreadStatic] private static TensorPool? _forThread;
    private readonly Dictionary<int, Stack<float[]>> _free = [];

    public static TensorPool ForThread => _forThread ??= new TensorPool();

    public float[] Rent(int length)
    {
        int size = SizeClass(length);
        return _free.TryGetValue(size, out var stack) && stack.Count > 0 ? stack.Pop() : GC.AllocateUninitializedArray<float>(size);
    }

    /// <summary>The array length that serves <paramref name="length"/> elements: the least of 4, 5, 6 or 7 times a power of two that holds them.</summary>
    internal static int SizeClass(int length)
    {
        if (length <= 8) return Math.Max(length, 1);
        int shift = 29 - System.Numerics.BitOperations.LeadingZeroCount((uint)(length - 1));  // 2^(shift + 2) <= length - 1 < 2^(shift + 3)
        int quarter = 1 << shift;
        return checked((int)(((long)length + quarter - 1) / quarter * quarter));
    }

    public void Return(float[] array)
    {
        if (!_free.TryGetValue(array.Length, out var stack)) _free[array.Length] = stack = new Stack<float[]>();
        stack.Push(array);
    }

    internal static int ElementCount(ReadOnlySpan<int> shape)
    {
        int n = 1;
        foreach (int d in shape) n = checked(n * d);
        return n;
    }

    public Tensor RentTensor(ReadOnlySpan<int> shape, bool clear)
    {
        int length = ElementCount(shape);
        var array = Rent(length);
        if (clear) array.AsSpan(0, length).Clear();
        return Tensor.OverPrefix(array, shape.ToArray());
    }
}
