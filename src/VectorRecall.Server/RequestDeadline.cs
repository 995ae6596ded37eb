using System.Collections.Concurrent;

namespace VectorRecall.Server;

/// <summary>
/// A request's deadline: cancelled after the timeout or when the client goes away. Its token source comes from a pool and
/// goes back to it unless it fired, so a request allocates no source, link or timer (about 300 bytes each time otherwise).
/// </summary>
internal readonly struct RequestDeadline : IDisposable
{
    private static readonly ConcurrentQueue<CancellationTokenSource> Pool = new();
    private readonly CancellationTokenSource _source;
    private readonly CancellationTokenRegistration _aborted;

    private RequestDeadline(CancellationTokenSource source, CancellationTokenRegistration aborted)
    {
        _source = source;
        _aborted = aborted;
    }

    /// <summary>A deadline <paramref name="timeout"/> from now that also fires with <paramref name="aborted"/>.</summary>
    public static RequestDeadline Start(CancellationToken aborted, TimeSpan timeout)
    {
        if (!Pool.TryDequeue(out var source)) source = new CancellationTokenSource();
        source.CancelAfter(timeout);
        return new(source, aborted.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), source));
    }

    public CancellationToken Token => _source.Token;
    public bool IsCancellationRequested => _source.IsCancellationRequested;

    public void Dispose()
    {
        // Unlinked first (waiting for a cancel already running), so a source back in the pool is never cancelled by this request.
        _aborted.Dispose();
        if (_source.TryReset()) Pool.Enqueue(_source);
        else _source.Dispose();
    }
}
