using VectorRecall.Numerics;

namespace VectorRecall.Autograd;

/// <summary>
/// Arrays for op results and gradients, kept per thread and reused step after step: a training
/// step allocates the same shapes every time, and fresh large arrays cost page faults, zeroing and
/// collections. Only a pooled <see cref="Tape"/> rents from it; it returns everything when disposed.
/// </summary>
internal sealed class TensorPool
{
    [ThreadStatic] private static TensorPool? _forThread;
    private readonly Dictionary<int, Stack<float[]>> _free = [];

    public static TensorPool ForThread => _forThread ??= new TensorPool();

    public float[] Rent(int length) =>
        _free.TryGetValue(length, out var stack) && stack.Count > 0 ? stack.Pop() : GC.AllocateUninitializedArray<float>(length);

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
        var array = Rent(ElementCount(shape));
        if (clear) array.AsSpan().Clear();
        return Tensor.FromArray(array, shape.ToArray());
    }
}
