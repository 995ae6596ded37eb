using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using VectorRecall.Numerics;

namespace VectorRecall.Benchmarks;

/// <summary>
/// <c>-- load URL [--concurrency 8,32,128] [--top-k 50,500] [--duration 60] [--warmup 5] [--reloads 0] [--token T]</c>:
/// closed-loop HTTP load on <c>POST /v1/recall</c> — each of <c>concurrency</c> workers sends a request
/// for a random known user as soon as its last one is answered — and prints throughput, latency
/// percentiles and errors per run. With <c>--reloads N</c> it also posts N hot reloads, evenly spread
/// over each run, and reports what they took. The server's RSS and bytes allocated per request come from its own <c>/metrics</c>.
/// </summary>
internal static class LoadGenerator
{
    public static void Run(string[] args)
    {
        if (args.Length == 0 || args[0].StartsWith('-')) throw new ArgumentException("usage: -- load URL [--concurrency 8,32,128] [--top-k 50,500] [--duration 60] [--warmup 5] [--reloads 0] [--token T]");
        var url = new Uri(args[0]);
        string Arg(string name, string fallback) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
        int[] Ints(string s) => s.Split(',').Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        var concurrencies = Ints(Arg("--concurrency", "8,32,128"));
        var topKs = Ints(Arg("--top-k", "50,500"));
        var duration = TimeSpan.FromSeconds(double.Parse(Arg("--duration", "60"), CultureInfo.InvariantCulture));
        var warmup = TimeSpan.FromSeconds(double.Parse(Arg("--warmup", "5"), CultureInfo.InvariantCulture));
        int reloads = int.Parse(Arg("--reloads", "0"), CultureInfo.InvariantCulture);
        string? token = Arg("--token", Environment.GetEnvironmentVariable("VRECALL_ADMIN_TOKEN") ?? "") is { Length: > 0 } t ? t : null;
        if (reloads > 0 && token is null) throw new ArgumentException("--reloads needs the admin token (--token or VRECALL_ADMIN_TOKEN)");

        using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = concurrencies.Max() * 2, PooledConnectionLifetime = Timeout.InfiniteTimeSpan })
        { BaseAddress = url, Timeout = TimeSpan.FromSeconds(30) };
        var ready = JsonNode.Parse(client.GetStringAsync("/readyz").Result)!;
        int users = ready["users"]!.GetValue<int>();
        Console.WriteLine($"server {url}: version {ready["model_version"]}, {ready["items"]} items, {users} users; {Environment.ProcessorCount} cores shared with the server");
        Console.WriteLine($"RSS at start: {ServerMetric(client, "process_resident_memory_bytes") / 1048576.0:F0} MiB");
        Console.WriteLine("| concurrency | top_k | requests | throughput (req/s) | p50 ms | p95 ms | p99 ms | max ms | errors | reloads (ok, mean load ms) | server KiB allocated per request |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (int k in topKs)
            foreach (int c in concurrencies)
            {
                Drive(client, users, k, c, warmup, 0, null);  // warm the JIT, the connections and the pools
                long allocated = ServerMetric(client, "dotnet_gc_allocated_bytes_total");
                var r = Drive(client, users, k, c, duration, reloads, token);
                allocated = ServerMetric(client, "dotnet_gc_allocated_bytes_total") - allocated;
                string reloadCell = reloads > 0 ? $"{r.ReloadsOk}/{reloads}, {r.ReloadMs:F0}" : "—";
                Console.WriteLine($"| {c} | {k} | {r.Latencies.Length:N0} | {r.Latencies.Length / duration.TotalSeconds:F0} | {Percentiles.Of(r.Latencies, 50):F2} | {Percentiles.Of(r.Latencies, 95):F2} | {Percentiles.Of(r.Latencies, 99):F2} | {r.Latencies[^1]:F2} | {r.Errors}{(r.Errors > 0 ? $" ({r.FirstError})" : "")} | {reloadCell} | {allocated / Math.Max(1, r.Latencies.Length) / 1024.0:F1} |");
            }
        Console.WriteLine($"RSS at end: {ServerMetric(client, "process_resident_memory_bytes") / 1048576.0:F0} MiB");
    }

    private sealed record RunResult(double[] Latencies, long Errors, string? FirstError, int ReloadsOk, double ReloadMs);

    private static RunResult Drive(HttpClient client, int users, int k, int concurrency, TimeSpan duration, int reloads, string? token)
    {
        var clock = Stopwatch.StartNew();
        long errors = 0;
        string? firstError = null;
        var perWorker = new List<double>[concurrency];
        var workers = Enumerable.Range(0, concurrency).Select(w => Task.Run(async () =>
        {
            var latencies = perWorker[w] = new List<double>(1 << 16);
            var rng = new Random(w * 7919 + k);
            while (clock.Elapsed < duration)
            {
                var body = new ByteArrayContent(Encoding.ASCII.GetBytes($"{{\"user_id\":{rng.Next(users)},\"top_k\":{k}}}"));
                body.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                long start = Stopwatch.GetTimestamp();
                try
                {
                    using var response = await client.PostAsync("/v1/recall", body);
                    await response.Content.LoadIntoBufferAsync();
                    if (response.StatusCode != HttpStatusCode.OK) throw new HttpRequestException($"status {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
                    latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                }
                catch (Exception e)
                {
                    if (Interlocked.Increment(ref errors) == 1) firstError = e.Message;
                }
            }
        })).ToList();

        int ok = 0;
        var loadMs = new List<double>();
        if (reloads > 0)
            workers.Add(Task.Run(async () =>
            {
                for (int r = 1; r <= reloads; r++)
                {
                    var at = duration * r / (reloads + 1);
                    if (at > clock.Elapsed) await Task.Delay(at - clock.Elapsed);
                    using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/admin/reload");
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                    using var response = await client.SendAsync(request);
                    var outcome = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
                    if (response.StatusCode == HttpStatusCode.OK) { ok++; loadMs.Add(outcome["load_ms"]!.GetValue<double>()); }
                    else Console.WriteLine($"reload {r} failed: {outcome}");
                }
            }));
        Task.WaitAll(workers);
        var all = perWorker.SelectMany(l => l).Order().ToArray();
        return new RunResult(all.Length > 0 ? all : [double.NaN], errors, firstError, ok, loadMs.Count > 0 ? loadMs.Average() : double.NaN);
    }


    private static long ServerMetric(HttpClient client, string name)
    {
        string metrics = client.GetStringAsync("/metrics").Result;
        var line = metrics.Split('\n').First(l => l.StartsWith(name + " ", StringComparison.Ordinal));
        return long.Parse(line.Split(' ')[1], CultureInfo.InvariantCulture);
    }
}
