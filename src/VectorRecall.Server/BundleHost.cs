using System.Diagnostics;
using Microsoft.Extensions.Logging;
using VectorRecall.IO;
using VectorRecall.Retrieval;

namespace VectorRecall.Server;

/// <summary>What a reload did: the versions before and after, how long loading took, and why it failed if it did.</summary>
public sealed record ReloadOutcome(bool Succeeded, string PreviousVersion, string CurrentVersion, double LoadMs, string? Error);

/// <summary>
/// Holds the bundle being served and swaps in new ones. A reload loads the new bundle beside the old
/// one, then replaces the reference in one atomic step: requests that started on the old bundle finish
/// on it, later ones see the new one, and a bundle that fails to load leaves the old one serving.
/// A host told to wait may start with no bundle (none published yet, or a broken one): requests are then
/// refused with 503 and readiness is false until a reload succeeds.
/// </summary>
public sealed class BundleHost : IDisposable
{
    private readonly string _path;
    private readonly ILogger _log;
    private readonly SemaphoreSlim _reloading = new(1, 1);
    private readonly Func<IRetriever>? _searchWith;
    private LoadedBundle? _current;
    private long _reloadsSucceeded, _reloadsFailed;

    /// <summary>
    /// Serves the bundle in <paramref name="path"/>; with <paramref name="searchWith"/>, searched by the retrievers it makes (see
    /// <see cref="LoadedBundle.Load"/>). A bundle that cannot be loaded throws, unless <paramref name="waitForBundle"/>: then the
    /// host starts empty and the reason is <see cref="LastReloadError"/>.
    /// </summary>
    public BundleHost(string path, ILogger log, Func<IRetriever>? searchWith = null, bool waitForBundle = false)
    {
        _path = path;
        _log = log;
        _searchWith = searchWith;
        try { _current = LoadedBundle.Load(path, searchWith); }
        catch (Exception e) when (waitForBundle && e is IOException or UnauthorizedAccessException or ArgumentException or InvalidDataException)
        {
            LastReloadError = BundleRelative(e);
            _log.LogWarning("No bundle to serve yet at {Path} ({Error}); not ready until one loads", path, LastReloadError);
        }
    }

    public string BundlePath => _path;
    /// <summary>The bundle now being served (for reporting; requests take a <see cref="Acquire">lease</see>); null while waiting for the first.</summary>
    public LoadedBundle? Current => Volatile.Read(ref _current);
    public long ReloadsSucceeded => Interlocked.Read(ref _reloadsSucceeded);
    public long ReloadsFailed => Interlocked.Read(ref _reloadsFailed);
    /// <summary>Why the last failed reload failed, until a reload succeeds.</summary>
    public string? LastReloadError { get; private set; }

    /// <summary>The current bundle, held until the lease is disposed; a 503 <see cref="RequestError"/> while there is none.</summary>
    public BundleLease Acquire()
    {
        while (true)
        {
            var bundle = Volatile.Read(ref _current) ?? throw new RequestError(503, "bundle", "no bundle is loaded yet: the server is waiting for one to be published (see /readyz)");
            if (bundle.TryAcquire()) return new BundleLease(bundle);
            // Swapped and released between the read and the acquire: the next read sees the new one.
        }
    }

    /// <summary>Loads the bundle folder again and swaps it in; one reload at a time.</summary>
    public async Task<ReloadOutcome> ReloadAsync(CancellationToken token)
    {
        await _reloading.WaitAsync(token);
        try
        {
            string previous = Current?.Version ?? "";
            var clock = Stopwatch.StartNew();
            LoadedBundle fresh;
            try
            {
                fresh = await Task.Run(() => LoadedBundle.Load(_path, _searchWith), token);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                Interlocked.Increment(ref _reloadsFailed);
                string reason = BundleRelative(e);
                LastReloadError = reason;
                _log.LogError("Reload of {Path} failed; still serving {Version}: {Error}", _path, previous, e.Message);
                return new ReloadOutcome(false, previous, previous, clock.Elapsed.TotalMilliseconds, reason);
            }
            var old = Interlocked.Exchange(ref _current, fresh);
            old?.Release();
            Interlocked.Increment(ref _reloadsSucceeded);
            LastReloadError = null;
            _log.LogInformation("Reloaded {Path}: version {Old} -> {New} ({Items} items) in {Ms:F0} ms", _path, previous, fresh.Version, fresh.Service.ItemCount, clock.Elapsed.TotalMilliseconds);
            return new ReloadOutcome(true, previous, fresh.Version, clock.Elapsed.TotalMilliseconds, null);
        }
        finally { _reloading.Release(); }
    }

    /// <summary>Why a load failed, with files named relative to the bundle folder: the reason is shown without authentication (<c>/readyz</c>) and must not reveal server paths.</summary>
    private string BundleRelative(Exception e)
    {
        string full = Path.GetFullPath(_path).TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
        string message = e is FileFormatException f ? $"{Path.GetRelativePath(full, Path.GetFullPath(f.FilePath))}: {f.Problem}" : e.Message;
        return message.Replace(full, "", StringComparison.Ordinal).Replace(Path.GetFullPath(_path), "bundle", StringComparison.Ordinal);
    }

    public void Dispose()
    {
        Interlocked.Exchange(ref _current, null!)?.Release();
        _reloading.Dispose();
    }
}
