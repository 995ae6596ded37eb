using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;

namespace VectorRecall.Server;

/// <summary>
/// Once shutdown begins, closes every connection that has no request being answered: one idle
/// between requests, or one still sending its headers. Kestrel's drain otherwise waits for such a
/// connection until the whole shutdown timeout has passed (its header timeout stops with the
/// server), so a client that never finishes its headers would hold SIGTERM for the full timeout.
/// Requests already being answered are left to finish: that is what the drain is for.
/// </summary>
internal sealed class IdleConnectionCloser
{
    private static readonly object Key = new();
    private static readonly TimeSpan SweepInterval = TimeSpan.FromMilliseconds(100);
    private readonly ConcurrentDictionary<string, (ConnectionContext Connection, StrongBox<int> Requests)> _open = new();

    /// <summary>Kestrel connection middleware: tracks each connection and its count of requests in progress.</summary>
    public ConnectionDelegate Track(ConnectionDelegate next) => async connection =>
    {
        var requests = new StrongBox<int>();
        connection.Items[Key] = requests;
        _open[connection.ConnectionId] = (connection, requests);
        try { await next(connection); }
        finally { _open.TryRemove(connection.ConnectionId, out _); }
    };

    /// <summary>The request counter of the connection a request came on (null outside Kestrel).</summary>
    public static StrongBox<int>? RequestsOf(HttpContext ctx) =>
        ctx.Features.Get<IConnectionItemsFeature>()?.Items.TryGetValue(Key, out var box) == true ? box as StrongBox<int> : null;

    /// <summary>From <paramref name="stopping"/> until <paramref name="stopped"/>, closes idle connections as they appear.</summary>
    public void CloseIdleOnShutdown(CancellationToken stopping, CancellationToken stopped) =>
        stopping.Register(() => _ = SweepAsync(stopped));

    private async Task SweepAsync(CancellationToken stopped)
    {
        while (!stopped.IsCancellationRequested)
        {
            foreach (var (connection, requests) in _open.Values)
                if (Volatile.Read(ref requests.Value) == 0) connection.Abort(new ConnectionAbortedException("the server is shutting down"));
            try { await Task.Delay(SweepInterval, stopped); }
            catch (OperationCanceledException) { return; }
        }
    }
}
