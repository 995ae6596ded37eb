using System.CommandLine;
using VectorRecall.Server;

namespace VectorRecall.Cli.Commands;

/// <summary>The HTTP server's flags, shared by <c>vrecall serve</c> and <c>vrecall cluster</c> (one vocabulary, one set of defaults).</summary>
internal sealed class ServerFlags
{
    private static readonly ServerOptions Defaults = new() { BundlePath = "bundle" };

    public Option<string> Urls { get; } = new("--urls") { Description = "listen addresses, ';'-separated; loopback only unless told otherwise (port 0 = any free port)", DefaultValueFactory = _ => Defaults.Urls };
    public Option<int> MaxTopK { get; } = new("--max-top-k", "--max_top_k") { Description = "largest top_k a request may ask for", DefaultValueFactory = _ => Defaults.MaxTopK };
    public Option<int> MaxBatch { get; } = new("--max-batch", "--max_batch") { Description = "most users in one /v1/recall/batch request", DefaultValueFactory = _ => Defaults.MaxBatch };
    public Option<int> MaxHistory { get; } = new("--max-history", "--max_history") { Description = "most items in a request's history (longer ones are refused with 400)", DefaultValueFactory = _ => Defaults.MaxHistory };
    public Option<long> MaxBody { get; } = new("--max-body-bytes", "--max_body_bytes") { Description = "largest request body accepted", DefaultValueFactory = _ => Defaults.MaxBodyBytes };
    public Option<int> Timeout { get; } = new("--request-timeout-ms", "--request_timeout_ms") { Description = "time a request may take, reading its body included", DefaultValueFactory = _ => (int)Defaults.RequestTimeout.TotalMilliseconds };
    public Option<int> Shutdown { get; } = new("--shutdown-timeout-s", "--shutdown_timeout_s") { Description = "on SIGTERM, how long to wait for requests in flight", DefaultValueFactory = _ => (int)Defaults.ShutdownTimeout.TotalSeconds };
    public Option<bool> Watch { get; } = new("--watch") { Description = "reload when the bundle folder's manifest changes" };
    public Option<int> WatchInterval { get; } = new("--watch-interval-ms", "--watch_interval_ms") { Description = "how often --watch looks at the bundle", DefaultValueFactory = _ => (int)Defaults.WatchInterval.TotalMilliseconds };
    public Option<int> Ef { get; } = new("--ef-search", "--ef_search") { Description = "width of every search, trading recall for speed: HNSW's candidate list, a tree's beam (0 = the bundle's own; at least top_k is used)", DefaultValueFactory = _ => Defaults.EfSearch };
    public Option<int> MaxEf { get; } = new("--max-ef-search", "--max_ef_search") { Description = "largest ef_search a request may ask for", DefaultValueFactory = _ => Defaults.MaxEfSearch };

    public Option<int> Patience { get; } = new("--search-patience", "--search_patience") { Description = "HNSW: stop a walk once this many expansions in a row leave its best top_k unchanged (0 = off); with a wide --ef-search it cuts the median search of a large top_k", DefaultValueFactory = _ => Defaults.SearchPatience };

    public IEnumerable<Option> All => [Urls, MaxTopK, MaxBatch, MaxHistory, MaxBody, Timeout, Shutdown, Watch, WatchInterval, Ef, MaxEf, Patience];

    /// <summary>The server's options from the parsed flags, serving <paramref name="bundlePath"/>; the admin token comes from the environment.</summary>
    public ServerOptions ToOptions(ParseResult r, string bundlePath) => new()
    {
        BundlePath = bundlePath,
        Urls = r.GetValue(Urls)!,
        MaxTopK = r.GetValue(MaxTopK),
        MaxBatch = r.GetValue(MaxBatch),
        MaxHistory = r.GetValue(MaxHistory),
        MaxBodyBytes = r.GetValue(MaxBody),
        RequestTimeout = TimeSpan.FromMilliseconds(r.GetValue(Timeout)),
        ShutdownTimeout = TimeSpan.FromSeconds(r.GetValue(Shutdown)),
        Watch = r.GetValue(Watch),
        WatchInterval = TimeSpan.FromMilliseconds(r.GetValue(WatchInterval)),
        EfSearch = r.GetValue(Ef),
        MaxEfSearch = r.GetValue(MaxEf),
        SearchPatience = r.GetValue(Patience),
        AdminToken = Environment.GetEnvironmentVariable(ServerOptions.AdminTokenVariable),
    };
}
