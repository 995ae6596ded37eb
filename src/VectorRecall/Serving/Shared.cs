namespace VectorRecall.Serving;

/// <summary>
/// A value many readers use at once and one owner may replace: the owner holds one reference from the start, each reader
/// takes one for as long as it reads, and the value is disposed when the last lets go. So a swap (a new bundle, a shard's
/// next generation) never disposes what a request in flight is still reading.
/// </summary>
internal sealed class Shared<T>(T value) where T : IDisposable
{
    private int _references = 1;

    public T Value { get; } = value;

    /// <summary>Takes a reference unless everyone has already let the value go.</summary>
    public bool TryAcquire()
    {
        for (int r = Volatile.Read(ref _references); r > 0; r = Volatile.Read(ref _references))
            if (Interlocked.CompareExchange(ref _references, r + 1, r) == r) return true;
        return false;
    }

    /// <summary>Lets a reference go; the last disposes the value.</summary>
    public void Release()
    {
        if (Interlocked.Decrement(ref _references) == 0) Value.Dispose();
    }

    /// <summary>Whether every reference has been let go (and the value disposed).</summary>
    public bool IsReleased => Volatile.Read(ref _references) == 0;
}
