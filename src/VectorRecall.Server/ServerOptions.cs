namespace VectorRecall.Server;

/// <summary>How <c>vrecall serve</c> runs: where it listens, what it serves, and the limits it enforces.</summary>
public sealed record ServerOptions
{
    /// <summary>The environment variable holding the admin bearer token; admin endpoints are off when it is unset or empty.</summary>
    public const string AdminTokenVariable = "VRECALL_ADMIN_TOKEN";

    public required string BundlePath { get; init; }
    /// <summary>Listen addresses; loopback only unless told otherwise (port 0 picks a free port).</summary>
    public string Urls { get; init; } = "http://127.0.0.1:8080";
    public int MaxTopK { get; init; } = 1000;
    public int MaxBatch { get; init; } = 256;
    public long MaxBodyBytes { get; init; } = 1 << 20;
    /// <summary>Most items in a request's <c>history</c>: the tower reads only the most recent few, and excluding a long history costs a lookup per item.</summary>
    public int MaxHistory { get; init; } = 500;
    /// <summary>Time a request may take from arrival to answer, reading its body included.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(2);
    /// <summary>How long SIGTERM waits for requests in flight before the process exits anyway.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Null turns the admin endpoints off.</summary>
    public string? AdminToken { get; init; }
    /// <summary>Reload when the bundle's manifest changes on disk; watching, a server also starts without a loadable bundle and waits for one (not ready until then).</summary>
    public bool Watch { get; init; }
    public TimeSpan WatchInterval { get; init; } = TimeSpan.FromSeconds(2);
    /// <summary>Width of every search: HNSW's candidate list, a tree's beam (0 = the bundle's own; at least top_k is always used).</summary>
    public int EfSearch { get; init; }
    /// <summary>Largest <c>ef_search</c> a request may ask for: a search's cost grows with its width.</summary>
    public int MaxEfSearch { get; init; } = 4096;
    /// <summary>
    /// HNSW: every walk stops once this many expansions in a row have not changed its best top_k (0 = off; a request's
    /// <c>search_patience</c> overrides it). With a wide <see cref="EfSearch"/> it cuts the median search of a large top_k.
    /// </summary>
    public int SearchPatience { get; init; }

    /// <summary>
    /// One listen address: <c>http://HOST:PORT</c> with an IP address, <c>localhost</c>, or <c>*</c> for
    /// every interface. Kestrel would bind any other host name on every interface, which is never what
    /// a mistyped address meant; HTTPS needs certificates this server does not manage (terminate TLS in front).
    /// </summary>
    private static void CheckUrl(string url)
    {
        string shown = VectorRecall.IO.Excerpt.Of(url);
        int scheme = url.IndexOf("://", StringComparison.Ordinal);
        if (scheme < 0) throw new ArgumentException($"--urls: '{shown}' is not an address of the form http://HOST:PORT");
        string protocol = url[..scheme];
        if (protocol.Equals("https", StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"--urls: '{shown}': HTTPS is not served directly; listen on http:// and terminate TLS in front (a proxy or an ingress)");
        if (!protocol.Equals("http", StringComparison.OrdinalIgnoreCase)) throw new ArgumentException($"--urls: '{shown}': the scheme must be http");
        string rest = url[(scheme + 3)..].TrimEnd('/');
        int colon = rest.LastIndexOf(':');
        if (colon < 0 || rest.EndsWith(']')) throw new ArgumentException($"--urls: '{shown}' needs a port (http://HOST:PORT; port 0 picks a free one)");
        string host = rest[..colon], port = rest[(colon + 1)..];
        if (!int.TryParse(port, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int p) || p > 65535)
            throw new ArgumentException($"--urls: '{shown}': port '{port}' is not a number from 0 to 65535");
        // A dotted quad or an IPv6 literal: IPAddress alone would also take "1" as 0.0.0.1.
        bool ip = System.Net.IPAddress.TryParse(host.Trim('[', ']'), out _) && (host.Contains(':') || host.Count(c => c == '.') == 3);
        if (!ip && host is not ("localhost" or "*" or "+"))
            throw new ArgumentException($"--urls: '{shown}': host '{host}' must be an IP address, localhost, or * for every interface");
    }

    /// <summary>Checks the options, naming the first one that is out of range.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(BundlePath)) throw new ArgumentException("--bundle is required");
        if (string.IsNullOrWhiteSpace(Urls)) throw new ArgumentException("--urls must name at least one address");
        foreach (string url in Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)) CheckUrl(url);
        if (MaxTopK < 1) throw new ArgumentException($"--max-top-k must be at least 1, got {MaxTopK}");
        if (MaxBatch < 1) throw new ArgumentException($"--max-batch must be at least 1, got {MaxBatch}");
        if (MaxHistory < 1) throw new ArgumentException($"--max-history must be at least 1, got {MaxHistory}");
        if (MaxBodyBytes < 1024) throw new ArgumentException($"--max-body-bytes must be at least 1024, got {MaxBodyBytes}");
        if (RequestTimeout <= TimeSpan.Zero) throw new ArgumentException($"--request-timeout-ms must be positive, got {RequestTimeout.TotalMilliseconds}");
        if (ShutdownTimeout < TimeSpan.Zero) throw new ArgumentException($"--shutdown-timeout-s must not be negative, got {ShutdownTimeout.TotalSeconds}");
        if (WatchInterval <= TimeSpan.Zero) throw new ArgumentException($"--watch-interval-ms must be positive, got {WatchInterval.TotalMilliseconds}");
        if (EfSearch < 0) throw new ArgumentException($"--ef-search must not be negative, got {EfSearch}");
        if (MaxEfSearch < 1) throw new ArgumentException($"--max-ef-search must be at least 1, got {MaxEfSearch}");
        if (SearchPatience < 0) throw new ArgumentException($"--search-patience must not be negative, got {SearchPatience}");
    }
}
