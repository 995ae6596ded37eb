using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using VectorRecall.Numerics;

namespace VectorRecall.Benchmarks;

/// <summary>
/// <c>dotnet run -c Release --project bench/VectorRecall.Benchmarks -- gemm</c>: GFLOP/s of every
/// two-tower shape (or with <c>--rqvae</c> the RQ-VAE's, with <c>--sequence</c> the sequence encoder's loss over every item) on 1 and 2 threads, as a fraction of the machine's peak (2 FMA units × 16
/// floats × 2 flops × clock, per core) and of a measured FMA-only loop. The best of many short
/// runs is reported: on a shared machine the minimum time is the least disturbed one. With <c>--cold</c> a 128 MB
/// buffer is written before each run, so the operands come from memory as they do inside a training step
/// (where the step's other work has evicted them) rather than from the cache the previous run left them in.
/// </summary>
internal static class GemmThroughput
{
    public static void Run(string[] args)
    {
        double clockGhz = ArgValue(args, "--clock-ghz") ?? ReadClockGhz();
        double seconds = ArgValue(args, "--seconds") ?? 1.5;
        // Two FMA ports × the kernel's lanes (16 with AVX-512, else 8) × 2 flops × the clock /proc/cpuinfo reports (a boosting core beats it).
        int lanes = Vector512.IsHardwareAccelerated ? 16 : 8;
        double nominalPeak = 2 * lanes * 2 * clockGhz;
        double fmaPeak = MeasureFmaPeak();
        Console.WriteLine($"kernel {Gemm.KernelName}; clock {clockGhz:F2} GHz; peak per core {nominalPeak:F1} GFLOP/s (2 FMA x {lanes} x 2 x clock); measured FMA loop {fmaPeak:F1} GFLOP/s");
        Console.WriteLine($"{"shape",-34} {"threads",7} {"GFLOP/s",9} {"% FMA loop",12} {"median",9}");
        var rng = new Rng(1);
        // --only TEXT keeps the shapes whose name contains TEXT, --threads N one thread count: enough to profile one case.
        string? only = ArgText(args, "--only");
        int[] threadCounts = ArgValue(args, "--threads") is double t ? [(int)t] : [1, 2];
        foreach (int threads in threadCounts)
            foreach (var s in GemmShape.Named(args).Where(s => only is null || s.Name.Contains(only, StringComparison.Ordinal)))
            {
                var a = Tensor.Randn(rng, 1f, s.TransA ? s.K : s.M, s.TransA ? s.M : s.K);
                var b = Tensor.Randn(rng, 1f, s.TransB ? s.N : s.K, s.TransB ? s.K : s.N);
                var c = new Tensor(s.M, s.N);
                var times = new List<double>();
                var flush = args.Contains("--cold") ? new float[32 << 20] : null;
                var total = Stopwatch.StartNew();
                while (total.Elapsed.TotalSeconds < seconds || times.Count < 5)
                {
                    if (flush is not null) Array.Fill(flush, times.Count);
                    var sw = Stopwatch.StartNew();
                    Gemm.Multiply(a, s.TransA, b, s.TransB, c, threads: threads);
                    times.Add(sw.Elapsed.TotalSeconds);
                }
                times.Sort();
                double best = s.Flops / times[0] / 1e9, median = s.Flops / times[times.Count / 2] / 1e9;
                Console.WriteLine($"{s.Name,-34} {threads,7} {best,9:F1} {100 * best / ((double.IsNaN(fmaPeak) ? nominalPeak : fmaPeak) * threads),11:F0}% {median,9:F1}");
            }
    }

    private static double? ArgValue(string[] args, string name) =>
        ArgText(args, name) is string text ? double.Parse(text, CultureInfo.InvariantCulture) : null;

    private static string? ArgText(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    private static double ReadClockGhz()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("cpu MHz", StringComparison.Ordinal));
            if (line is not null) return double.Parse(line.Split(':')[1].Trim(), CultureInfo.InvariantCulture) / 1000;
        }
        catch (IOException) { }
        return 2.0;
    }

    private static double MeasureFmaPeak()
    {
        const long n = 50_000_000;
        bool wide = Vector512.IsHardwareAccelerated;
        if (wide) FmaLoop512(1000); else FmaLoop256(1000);
        var sw = Stopwatch.StartNew();
        if (wide) FmaLoop512(n); else FmaLoop256(n);
        return n * 12 * (wide ? 32 : 16) / sw.Elapsed.TotalSeconds / 1e9;
    }

    /// <summary>12 independent FMA chains: enough to cover the FMA latency on two ports.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float FmaLoop512(long n)
    {
        Vector512<float> a0 = Vector512.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        var x = Vector512.Create(0.999999f); var y = Vector512.Create(1e-7f);
        for (long i = 0; i < n; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, x, y); a1 = Vector512.FusedMultiplyAdd(a1, x, y); a2 = Vector512.FusedMultiplyAdd(a2, x, y);
            a3 = Vector512.FusedMultiplyAdd(a3, x, y); a4 = Vector512.FusedMultiplyAdd(a4, x, y); a5 = Vector512.FusedMultiplyAdd(a5, x, y);
            a6 = Vector512.FusedMultiplyAdd(a6, x, y); a7 = Vector512.FusedMultiplyAdd(a7, x, y); a8 = Vector512.FusedMultiplyAdd(a8, x, y);
            a9 = Vector512.FusedMultiplyAdd(a9, x, y); a10 = Vector512.FusedMultiplyAdd(a10, x, y); a11 = Vector512.FusedMultiplyAdd(a11, x, y);
        }
        return (a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11).ToScalar();
    }

    /// <summary>The same with 256-bit vectors, for machines without AVX-512 (the AVX2 kernel's width).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float FmaLoop256(long n)
    {
        Vector256<float> a0 = Vector256.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        var x = Vector256.Create(0.999999f); var y = Vector256.Create(1e-7f);
        for (long i = 0; i < n; i++)
        {
            a0 = Vector256.FusedMultiplyAdd(a0, x, y); a1 = Vector256.FusedMultiplyAdd(a1, x, y); a2 = Vector256.FusedMultiplyAdd(a2, x, y);
            a3 = Vector256.FusedMultiplyAdd(a3, x, y); a4 = Vector256.FusedMultiplyAdd(a4, x, y); a5 = Vector256.FusedMultiplyAdd(a5, x, y);
            a6 = Vector256.FusedMultiplyAdd(a6, x, y); a7 = Vector256.FusedMultiplyAdd(a7, x, y); a8 = Vector256.FusedMultiplyAdd(a8, x, y);
            a9 = Vector256.FusedMultiplyAdd(a9, x, y); a10 = Vector256.FusedMultiplyAdd(a10, x, y); a11 = Vector256.FusedMultiplyAdd(a11, x, y);
        }
        return (a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11).ToScalar();
    }
}
