using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace VectorRecall.Server;

/// <summary>
/// Reloads the bundle when its manifest changes on disk. It polls rather than using file-system
/// events: bundles are replaced by renaming whole folders, which event watchers on the old folder miss.
/// A version that failed to load is not retried until the manifest changes again.
/// </summary>
internal sealed class BundleWatcher(BundleHost host, TimeSpan interval, ILogger<BundleWatcher> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        string? failed = null;
        using var timer = new PeriodicTimer(interval);
        log.LogInformation("Watching {Path} for new bundles every {Interval} ms", host.BundlePath, interval.TotalMilliseconds);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                var onDisk = LoadedBundle.ReadVersion(host.BundlePath);
                if (onDisk is null || onDisk == host.Current?.Version || onDisk == failed) continue;
                var outcome = await host.ReloadAsync(stoppingToken);
                failed = outcome.Succeeded ? null : onDisk;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Whatever a published bundle holds, the server keeps serving the one it has: an escaping exception would stop the host.
                log.LogError("Watching {Path} failed; still serving {Version}: {Error}", host.BundlePath, host.Current?.Version ?? "nothing", e.Message);
            }
        }
    }
}
