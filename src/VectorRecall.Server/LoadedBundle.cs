using VectorRecall.Indexing;
using VectorRecall.IO;
using VectorRecall.Numerics;
using VectorRecall.Retrieval;
using VectorRecall.Serving;
using VectorRecall.Towers;

namespace VectorRecall.Server;

/// <summary>
/// One loaded serving bundle and the number of holders using it: the host holds one reference while
/// the bundle is current, and every request holds one while it runs. The bundle is disposed when the
/// last holder lets go, so a swap never pulls the index from under a request in flight.
/// </summary>
public sealed class LoadedBundle
{
    private readonly Shared<RecallService> _service;

    private LoadedBundle(RecallService service, ItemFeatureEncoder? itemEncoder, string version, string createdUtc, long bytesOnDisk)
    {
        Service = service;
        _service = new Shared<RecallService>(service);
        ItemEncoder = itemEncoder;
        Version = version;
        CreatedUtc = createdUtc;
        BytesOnDisk = bytesOnDisk;
        LoadedUtc = DateTime.UtcNow;
    }

    public RecallService Service { get; }
    /// <summary>The bundle's encoder of items put by their description (<see cref="ServingBundle.LoadItemEncoder"/>); null when it has none.</summary>
    public ItemFeatureEncoder? ItemEncoder { get; }
    /// <summary>The manifest's CRC-32C in hex: any rewrite of the bundle gives a new version.</summary>
    public string Version { get; }
    public string CreatedUtc { get; }
    public long BytesOnDisk { get; }
    public DateTime LoadedUtc { get; }

    /// <summary>
    /// Loads and verifies the bundle in <paramref name="directory"/>; throws with the file and reason when it cannot. With
    /// <paramref name="searchWith"/>, the bundle's users are searched by the retriever it makes (a shard cluster's) instead of the bundle's index.
    /// </summary>
    public static LoadedBundle Load(string directory, Func<IRetriever>? searchWith = null)
    {
        string manifestPath = Path.Combine(directory, ServingBundle.ManifestFile);
        if (!File.Exists(manifestPath)) throw new FileFormatException(manifestPath, "missing: this folder is not a serving bundle");
        byte[] manifest = ServingBundle.ReadManifestBytes(manifestPath);
        string created = JsonFields.OptionalString(JsonFields.ParseObject(manifest, manifestPath), "created_utc", manifestPath) ?? "";
        var service = searchWith is null ? RecallService.FromBundle(directory) : RecallService.FromBundle(directory, searchWith());
        ItemFeatureEncoder? itemEncoder;
        try { itemEncoder = ServingBundle.LoadItemEncoder(directory); }
        catch
        {
            service.Dispose();
            throw;
        }
        long bytes = Directory.EnumerateFiles(directory).Sum(f => new FileInfo(f).Length);
        // A retriever of another process may not be reachable yet (a silo still starting): only a bundle's own index is warmed.
        if (searchWith is null) WarmUp(service);
        return new LoadedBundle(service, itemEncoder, VersionOf(manifest), created, bytes);
    }

    /// <summary>
    /// Runs one recall so that the first request does not pay for compiling the tower's and the
    /// search's code (about 100 ms against 1 ms warm): a bundle is reported ready, or swapped in, warm.
    /// </summary>
    private static void WarmUp(RecallService service)
    {
        if (service.UserCount == 0 || service.ItemCount == 0) return;
        try { service.Recall(new UserQuery(0), 1); }
        catch (UserVectorException) { }  // a stored user the model cannot place is that user's problem, not the bundle's
    }

    /// <summary>The version of the bundle on disk, or null when it has no readable manifest; whether the manifest is valid is for <see cref="Load"/> to say.</summary>
    public static string? ReadVersion(string directory)
    {
        try { return VersionOf(ServingBundle.ReadManifestBytes(Path.Combine(directory, ServingBundle.ManifestFile))); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    private static string VersionOf(byte[] manifest) => Crc32C.Compute(manifest).ToString("x8", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Takes a reference unless the bundle has already been released by everyone.</summary>
    internal bool TryAcquire() => _service.TryAcquire();

    internal void Release() => _service.Release();

    internal bool IsDisposed => _service.IsReleased;
}

/// <summary>A request's hold on the current bundle; disposing it lets the bundle go.</summary>
public readonly struct BundleLease(LoadedBundle bundle) : IDisposable
{
    public LoadedBundle Bundle { get; } = bundle;
    public RecallService Service => Bundle.Service;
    public void Dispose() => Bundle.Release();
}
