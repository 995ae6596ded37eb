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
        var bundle = new Option<string>("--bundle") { Description = "serving bundle folder (written by vrecall train / demo)", DefaultValueFactory = _ => "bundle" };
        var flags = new ServerFlags();
        var command = new Command("serve", $"Serve recall over HTTP: POST /v1/recall, /v1/recall/batch; GET /healthz, /readyz, /metrics, /openapi.json; POST /v1/admin/reload (needs {ServerOptions.AdminTokenVariable}).") { bundle };
        foreach (var o in flags.All) command.Add(o);
        command.SetAction((r, _) => CliErrors.Guard(() => RunAsync(flags.ToOptions(r, r.GetValue(bundle)!), options => RecallServer.Build(options))));
        return command;
    }

    /// <summary>Builds the server with <paramref name="build"/> and runs it until SIGTERM or Ctrl-C, which the web host turns into a drain; then exits 0.</summary>
    internal static async Task<int> RunAsync(ServerOptions options, Func<ServerOptions, (WebApplication, RecallServer)> build)
    {
        options.Validate();
        AnsiConsole.MarkupLineInterpolated($"Loading bundle {Path.GetFullPath(options.BundlePath)} ...");
        var (app, server) = build(options);
        await using (app)
        {
            await app.StartAsync();
            string admin = options.AdminToken is { Length: > 0 } ? "on" : $"off (set {ServerOptions.AdminTokenVariable})";
            if (server.Host.Current is { } b)
                AnsiConsole.MarkupLineInterpolated($"Serving version {b.Version} ({b.Service.ItemCount:N0} items, {b.Service.UserCount:N0} users, {b.BytesOnDisk / 1048576.0:F1} MiB on disk); admin endpoints {admin}; watching {(options.Watch ? "on" : "off")}");
            else
                AnsiConsole.MarkupLineInterpolated($"Waiting for a bundle at {Path.GetFullPath(options.BundlePath)} ({server.Host.LastReloadError}); not ready until one loads; admin endpoints {admin}");
            // One plain line for scripts and tests to find the bound port (port 0 picks a free one).
            foreach (var address in RecallServer.Addresses(app)) Console.WriteLine($"listening on {address}");
            await app.WaitForShutdownAsync();
        }
        AnsiConsole.MarkupLine("Stopped: requests in flight were answered.");
        return 0;
    }
}
