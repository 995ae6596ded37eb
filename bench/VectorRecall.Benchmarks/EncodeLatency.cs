using System.Diagnostics;
using VectorRecall.Numerics;
using VectorRecall.Retrieval;
using VectorRecall.Serving;

namespace VectorRecall.Benchmarks;

/// <summary>
/// <c>-- encode BUNDLE [history-length]</c>: single-user latency on one thread — the user encoder alone on a
/// history of the given length (default 50, the bundle's own items in order), then a whole top-50 recall —
/// p50 / p99 over 2,000 calls after a warm-up, and the bytes one encode into a caller's buffer allocates.
/// </summary>
internal static class EncodeLatency
{
    public static void Run(string[] args)
    {
        Threads.Count = 1;
        using var service = RecallService.FromBundle(args[0]);
        int length = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 50;
        var rng = new Rng(5);
        UserQuery Query() => new(rng.NextInt(service.UserCount), History: [.. Enumerable.Range(0, length).Select(_ => rng.NextInt(service.ItemCount))]);
        var vector = new float[service.Encoder.Dimension];
        for (int i = 0; i < 300; i++) service.Encoder.Encode([Query()], vector);
        var encode = new double[2000];
        var recall = new double[2000];
        for (int i = 0; i < encode.Length; i++)
        {
            UserQuery[] q = [Query()];
            long t0 = Stopwatch.GetTimestamp();
            service.Encoder.Encode(q, vector);
            encode[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            t0 = Stopwatch.GetTimestamp();
            service.Recall(q[0], 50, excludeSeen: true);
            recall[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        Array.Sort(encode);
        Array.Sort(recall);
        UserQuery[] one = [Query()];
        long before = GC.GetAllocatedBytesForCurrentThread();
        service.Encoder.Encode(one, vector);
        long bytes = GC.GetAllocatedBytesForCurrentThread() - before;
        Console.WriteLine($"{service.Kind} bundle, {service.ItemCount:N0} items, history {length}, one thread");
        Console.WriteLine($"encode p50 {Percentiles.Of(encode, 50):F3} ms p99 {Percentiles.Of(encode, 99):F3} ms; {bytes:N0} bytes allocated per encode");
        Console.WriteLine($"recall top-50 (exclude seen) p50 {Percentiles.Of(recall, 50):F3} ms p99 {Percentiles.Of(recall, 99):F3} ms");
    }
}
