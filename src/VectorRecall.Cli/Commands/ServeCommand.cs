using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Hosting;
using Spectre.Console;
using VectorRecall.Server;

namespace VectorRecall.Cli.Commands;

/// <summary><c>vrecall serve --bundle DIR --urls http://127.0.0.1:8080</c>: the online recall service over HTTP.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var defaults = new ServerOptions { BundlePath = "bundle" };
        var bundle = new Option<string>("--bundle") { Description = "serving bundle folder (written by vrecall train / demo)", DefaultValueFactory = _ => defaults.BundlePath };
        var urls = new Option<string>("--urls") { Description = "listen addresses, ';'-separated; loopback only unless told otherwise (port 0 = any free port)", DefaultValueFactory = _ => defaults.Urls };
        var maxTopK = new Option<int>("--max-top-k", "--max_top_k") { Description = "largest top_k a request may ask for", DefaultValueFactory = _ => defaults.MaxTopK };
        var maxBatch = new Option<int>("--max-batch", "--max_batch") { Description = "most users in one /v1/recall/batch request", DefaultValueFactory = _ => defaults.MaxBatch };
        var maxHistory = new Option<int>("--max-history", "--max_history") { Description = "most items in a request's history (longer ones are refused with 400)", DefaultValueFactory = _ => defaults.MaxHistory };
        var maxBody = new Option<long>("--max-body-bytes", "--max_body_bytes") { Description = "largest request body accepted", DefaultValueFactory = _ => defaults.MaxBodyBytes };
        var timeout = new Option<int>("--request-timeout-ms", "--request_timeout_ms") { Description = "time a request may take, reading its body included", DefaultValueFactory = _ => (int)defaults.RequestTimeout.TotalMilliseconds };
        var shutdown = new Option<int>("--shutdown-timeout-s", "--shutdown_timeout_s") { Description = "on SIGTERM, how long to wait for requests in flight", DefaultValueFactory = _ => (int)defaults.ShutdownTimeout.TotalSeconds };
        var watch = new Option<bool>("--watch") { Description = "reload when the bundle folder's manifest changes" };
        var watchInterval = new Option<int>("--watch-interval-ms", "--watch_interval_ms") { Description = "how often --watch looks at the bundle", DefaultValueFactory = _ => (int)defaults.WatchInterval.TotalMilliseconds };
        var maxEf = new Option<int>("--max-ef-search", "--max_ef_search") { Description = "largest ef_search a request may ask for", DefaultValueFactory = _ => defaults.MaxEfSearch };
        var ef = new Option<int>("--ef-search", "--ef_search") { Description = "width of every search, trading recall for speed: HNSW's candidate list, a tree's beam (0 = the bundle's own; at least top_k is used)", DefaultValueFactory = _ => defaults.EfSearch };
        var command = new Command("serve", $"Serve recall over HTTP: POST /v1/recall, /v1/recall/batch; GET /healthz, /readyz, /metrics, /openapi.json; POST /v1/admin/reload (needs {ServerOptions.AdminTokenVariable}).")
        {
            bundle, urls, maxTopK, maxBatch, maxHistory, maxBody, timeout, shutdown, watch, watchInterval, ef, maxEf,
        };
        command.SetAction((r, _) => CliErrors.Guard(() => RunAsync(new ServerOptions
        {
            BundlePath = r.GetValue(bundle)!,
            Urls = r.GetValue(urls)!,
            MaxTopK = r.GetValue(maxTopK),
            MaxBatch = r.GetValue(maxBatch),
            MaxHistory = r.GetValue(maxHistory),
            MaxBodyBytes = r.GetValue(maxBody),
            RequestTimeout = TimeSpan.FromMilliseconds(r.GetValue(timeout)),
            ShutdownTimeout = TimeSpan.FromSeconds(r.GetValue(shutdown)),
            Watch = r.GetValue(watch),
            WatchInterval = TimeSpan.FromMilliseconds(r.GetValue(watchInterval)),
            EfSearch = r.GetValue(ef),
            MaxEfSearch = r.GetValue(maxEf),
            AdminToken = Environment.GetEnvironmentVariable(ServerOptions.AdminTokenVariable),
        })));
        return command;
    }

    /// <summary>Runs until SIGTERM or Ctrl-C, which the web host turns into a drain; then exits 0.</summary>
    private static async Task<int> RunAsync(ServerOptions options)
    {
        options.Validate();
        AnsiConsole.MarkupLineInterpolated($"Loading bundle {Path.GetFullPath(options.BundlePath)} ...");
        var (app, server) = RecallServer.Build(options);
        await using (app)
        {
            await app.StartAsync();
            var b = server.Host.Current;
            AnsiConsole.MarkupLineInterpolated($"Serving version {b.Version} ({b.Service.ItemCount:N0} items, {b.Service.UserCount:N0} users, {b.BytesOnDisk / 1048576.0:F1} MiB on disk); admin endpoints {(options.AdminToken is { Length: > 0 } ? "on" : $"off (set {ServerOptions.AdminTokenVariable})")}; watching {(options.Watch ? "on" : "off")}");
            // One plain line for scripts and tests to find the bound port (port 0 picks a free one).
            foreach (var address in RecallServer.Addresses(app)) Console.WriteLine($"listening on {address}");
            await app.WaitForShutdownAsync();
        }
        AnsiConsole.MarkupLine("Stopped: requests in flight were answered.");
        return 0;
    }
}
