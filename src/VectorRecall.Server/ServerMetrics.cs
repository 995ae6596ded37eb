using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace VectorRecall.Server;

/// <summary>
/// Request counts by route and status and a latency histogram per route, kept in flat arrays of
/// counters (one interlocked add per request, no allocation), written out in the Prometheus text format.
/// </summary>
public sealed class ServerMetrics
{
    /// <summary>The routes metrics are kept for; anything else is "other", so a scan of random paths cannot grow the series.</summary>
    public static readonly string[] Routes = ["recall", "recall_batch", "healthz", "readyz", "metrics", "openapi", "admin_reload", "items", "other"];
    /// <summary>Bucket upper bounds in seconds: fine below 10 ms, where recall lives, coarse above.</summary>
    public static readonly double[] Buckets = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
    private const int Statuses = 600;

    private readonly long[] _counts = new long[Routes.Length * Statuses];
    private readonly long[] _buckets = new long[Routes.Length * (Buckets.Length + 1)];
    private readonly long[] _ticks = new long[Routes.Length];
    private long _inFlight;

    /// <summary>The route a path is answered by: routing ignores case and a trailing slash, and so does the count.</summary>
    public static int RouteOf(string? path)
    {
        var p = path.AsSpan();
        if (p.Length > 1 && p[^1] == '/') p = p[..^1];
        for (int r = 0; r < Paths.Length; r++)
            if (p.Equals(Paths[r], StringComparison.OrdinalIgnoreCase)) return r;
        // PUT /v1/items and DELETE /v1/items/{id}: one series, whatever the id.
        if (p.StartsWith(ItemsPath, StringComparison.OrdinalIgnoreCase) && (p.Length == ItemsPath.Length || p[ItemsPath.Length] == '/')) return Paths.Length;
        return Routes.Length - 1;
    }

    private const string ItemsPath = "/v1/items";
    private static readonly string[] Paths = ["/v1/recall", "/v1/recall/batch", "/healthz", "/readyz", "/metrics", "/openapi.json", "/v1/admin/reload"];

    public void Started() => Interlocked.Increment(ref _inFlight);

    public void Finished(int route, int status, long elapsedTicks)
    {
        Interlocked.Decrement(ref _inFlight);
        Interlocked.Increment(ref _counts[route * Statuses + Math.Clamp(status, 0, Statuses - 1)]);
        double seconds = (double)elapsedTicks / Stopwatch.Frequency;
        int b = 0;
        while (b < Buckets.Length && seconds > Buckets[b]) b++;
        Interlocked.Increment(ref _buckets[route * (Buckets.Length + 1) + b]);
        Interlocked.Add(ref _ticks[route], elapsedTicks);
    }

    /// <summary>The metrics page: HTTP counters and histograms, then the bundle and process gauges.</summary>
    public string Render(BundleHost host)
    {
        var s = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        s.AppendLine("# HELP vrecall_http_requests_total Requests answered, by route and HTTP status.");
        s.AppendLine("# TYPE vrecall_http_requests_total counter");
        for (int r = 0; r < Routes.Length; r++)
            for (int st = 0; st < Statuses; st++)
            {
                long n = Interlocked.Read(ref _counts[r * Statuses + st]);
                if (n > 0) s.Append(inv, $"vrecall_http_requests_total{{route=\"{Routes[r]}\",status=\"{st}\"}} {n}\n");
            }
        s.AppendLine("# HELP vrecall_http_request_duration_seconds Time from a request's arrival to its answer, by route.");
        s.AppendLine("# TYPE vrecall_http_request_duration_seconds histogram");
        for (int r = 0; r < Routes.Length; r++)
        {
            long cumulative = 0;
            var row = new long[Buckets.Length + 1];
            for (int b = 0; b <= Buckets.Length; b++) row[b] = Interlocked.Read(ref _buckets[r * (Buckets.Length + 1) + b]);
            if (row.Sum() == 0) continue;
            for (int b = 0; b <= Buckets.Length; b++)
            {
                cumulative += row[b];
                string le = b < Buckets.Length ? Buckets[b].ToString(inv) : "+Inf";
                s.Append(inv, $"vrecall_http_request_duration_seconds_bucket{{route=\"{Routes[r]}\",le=\"{le}\"}} {cumulative}\n");
            }
            s.Append(inv, $"vrecall_http_request_duration_seconds_sum{{route=\"{Routes[r]}\"}} {(double)Interlocked.Read(ref _ticks[r]) / Stopwatch.Frequency:G9}\n");
            s.Append(inv, $"vrecall_http_request_duration_seconds_count{{route=\"{Routes[r]}\"}} {cumulative}\n");
        }
        Gauge(s, "vrecall_http_requests_in_flight", "Requests being answered now.", Interlocked.Read(ref _inFlight));

        if (host.Current is { } bundle)
        {
            s.AppendLine("# HELP vrecall_bundle_info The bundle being served (value 1).");
            s.AppendLine("# TYPE vrecall_bundle_info gauge");
            s.Append(inv, $"vrecall_bundle_info{{version=\"{bundle.Version}\",created_utc=\"{bundle.CreatedUtc}\"}} 1\n");
            Gauge(s, "vrecall_index_items", "Items in the served index.", bundle.Service.ItemCount);
            Gauge(s, "vrecall_bundle_users", "Users the served bundle knows.", bundle.Service.UserCount);
            Gauge(s, "vrecall_bundle_size_bytes", "Size of the served bundle's files on disk.", bundle.BytesOnDisk);
            Gauge(s, "vrecall_bundle_loaded_timestamp_seconds", "When the served bundle was loaded (Unix time).", new DateTimeOffset(bundle.LoadedUtc).ToUnixTimeSeconds());
        }
        if (host.Current?.Service.Retriever is IMetricsSource source) source.AppendMetrics(s);
        s.AppendLine("# HELP vrecall_reloads_total Bundle reloads, by result.");
        s.AppendLine("# TYPE vrecall_reloads_total counter");
        s.Append(inv, $"vrecall_reloads_total{{result=\"ok\"}} {host.ReloadsSucceeded}\n");
        s.Append(inv, $"vrecall_reloads_total{{result=\"failed\"}} {host.ReloadsFailed}\n");
        using var process = Process.GetCurrentProcess();
        Gauge(s, "process_resident_memory_bytes", "Resident memory of the server process.", process.WorkingSet64);
        Gauge(s, "dotnet_gc_heap_bytes", "Bytes of live objects on the managed heap.", GC.GetTotalMemory(false));
        s.Append(CultureInfo.InvariantCulture, $"# HELP dotnet_gc_allocated_bytes_total Bytes allocated on the managed heap since start.\n# TYPE dotnet_gc_allocated_bytes_total counter\ndotnet_gc_allocated_bytes_total {GC.GetTotalAllocatedBytes()}\n");
        Gauge(s, "dotnet_gc_committed_bytes", "Memory the garbage collector holds from the system.", GC.GetGCMemoryInfo().TotalCommittedBytes);
        return s.ToString();
    }

    private static void Gauge(StringBuilder s, string name, string help, long value)
    {
        s.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n");
    }
}
