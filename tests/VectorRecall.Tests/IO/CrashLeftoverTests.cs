using System.Diagnostics;
using VectorRecall.Indexing;
using VectorRecall.IO;

namespace VectorRecall.Tests.IO;

/// <summary>
/// A writer killed mid-write leaves the previous output intact, and what it left beside the target
/// (temporaries of dead processes, retired folders) is removed by the next writer of that target.
/// </summary>
public class CrashLeftoverTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static int DeadPid()
    {
        using var p = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!;
        p.WaitForExit();
        return p.Id;
    }

    [Fact]
    public void TheNextWriterRemovesWhatDeadWritersLeftAndNothingElse()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var dir = new TempDir();
        string target = dir.File("index.vrix");
        File.WriteAllText(target, "previous");
        string guid() => Guid.NewGuid().ToString("N");
        string deadTemp = $"{target}.tmp-{DeadPid()}-{guid()}";
        string liveTemp = $"{target}.tmp-{Environment.ProcessId}-{guid()}";
        string retired = $"{target}.old-{DeadPid()}-{guid()}";
        string legacyRetired = $"{target}.old-{guid()}";
        File.WriteAllText(deadTemp, "half");
        File.WriteAllText(liveTemp, "another writer at work");
        Directory.CreateDirectory(retired);
        File.WriteAllText(Path.Combine(retired, "f"), "x");
        Directory.CreateDirectory(legacyRetired);
        File.WriteAllText(dir.File("index.vrix.old-backup"), "the user's own");
        File.WriteAllText(dir.File("index.vrix.tmp-notes"), "the user's own");

        AtomicFile.Write(target, s => s.Write("next"u8));

        Assert.Equal("next", File.ReadAllText(target));
        Assert.Equal(new[] { "index.vrix", "index.vrix.old-backup", "index.vrix.tmp-notes", Path.GetFileName(liveTemp) }.Order(StringComparer.Ordinal),
            Directory.EnumerateFileSystemEntries(dir.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    /// <summary>How many times the writer is killed (10 in the suite; VRECALL_KILL_POINTS for more).</summary>
    private static int KillPoints => int.TryParse(Environment.GetEnvironmentVariable("VRECALL_KILL_POINTS"), out int n) && n > 0 ? n : 10;

    [Fact]
    public async Task KillingIndexBuildAtRandomPointsKeepsThePreviousIndexAndLeavesNothingAfterTheNextRun()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var dir = new TempDir();
        string input = dir.File("vectors.npy"), target = dir.File("items.vrix");
        VectorRecall.IO.Npy.Write(input, VectorSets.Clustered(1500, 32, 20, 9), [1500, 32]);
        var clock = Stopwatch.StartNew();
        Assert.Equal(0, await Build(input, target, seed: 1, killAfterMs: null));
        int fullRunMs = (int)clock.ElapsedMilliseconds, leftBehind = 0;
        var rng = new VectorRecall.Numerics.Rng(16);
        for (int i = 0; i < KillPoints; i++)
        {
            // Kill points spread over a whole run, start-up included, weighted towards its end where the file is written.
            await Build(input, target, seed: 2 + i, killAfterMs: (int)(fullRunMs * Math.Sqrt(rng.NextDouble()) * 1.1));
            using var index = IndexFactory.Load(target);  // the previous index or the new one, always whole
            Assert.Equal(1500, index.Count);
            if (Directory.GetFiles(dir.Path, "items.vrix.tmp-*").Length > 0) leftBehind++;
        }
        output.WriteLine($"{KillPoints} kills over a {fullRunMs} ms run; {leftBehind} left a temporary behind");
        Assert.Equal(0, await Build(input, target, seed: 99, killAfterMs: null));
        Assert.Equal(["items.vrix", "vectors.npy"], Directory.EnumerateFileSystemEntries(dir.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    private static async Task<int> Build(string input, string target, int seed, int? killAfterMs)
    {
        string vrecall = Path.Combine(AppContext.BaseDirectory, "vrecall.dll");
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in new[] { vrecall, "index", "build", "--data", input, "--output", target, "--m", "8", "--efc", "64", "--threads", "1", "--seed", seed.ToString(System.Globalization.CultureInfo.InvariantCulture) })
            start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var drain = Task.WhenAll(process.StandardOutput.ReadToEndAsync(), process.StandardError.ReadToEndAsync());
        if (killAfterMs is { } ms)
        {
            await Task.Delay(ms);
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }  // it had already finished
        }
        await process.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
        await drain;
        return process.ExitCode;
    }
}
