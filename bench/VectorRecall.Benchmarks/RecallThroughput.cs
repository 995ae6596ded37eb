using System.Diagnostics;
using VectorRecall.Indexing;
using VectorRecall.Numerics;
using VectorRecall.Serving;

namespace VectorRecall.Benchmarks;

/// <summary>
/// <c>-- recall BUNDLE [k]</c>: where batch recall time goes for a serving bundle — encoding the
/// users, the index's batch search alone, the whole <see cref="RecallService.BatchRecall"/> — and
/// what exact search (a <see cref="FlatIndex"/> of the same size) would cost instead; for HNSW, recall@k and speed per ef.
/// </summary>
internal static class RecallThroughput
{
    public static void Run(string[] args)
    {
        string bundle = args.Length > 0 ? args[0] : "bundle";
        int k = args.Length > 1 ? int.Parse(args[1]) : 500;
        using var service = RecallService.FromBundle(bundle);
        var index = service.Index ?? throw new ArgumentException("this benchmark needs a two-tower bundle (an index over item vectors)");
        var rng = new Rng(3);
        var users = Enumerable.Range(0, 4096).Select(_ => (long)rng.NextInt(service.UserCount)).ToArray();
        var queries = service.EncodeUsers(users);
        // Exact search costs the same whatever the vectors are: time it on random ones of the same size.
        using var flat = new FlatIndex(index.Dimension, Metric.InnerProduct);
        flat.Add(Enumerable.Range(0, service.ItemCount).Select(i => (long)i).ToArray(), Tensor.Randn(rng, 1f, service.ItemCount, index.Dimension).Span);
        Console.WriteLine($"{index.GetType().Name}, {service.ItemCount} items, top-{k}, {Threads.Count} threads; queries per second (best of 3)");
        Console.WriteLine("batch   encode-only   index-search   BatchRecall   exact-search");
        foreach (int batch in new[] { 1, 16, 64, 128 })
        {
            var ids = new long[batch * k]; var scores = new float[batch * k]; var counts = new int[batch];
            int Rounds(int cap) => Math.Max(1, cap / batch) * batch;
            double encode = Best(Rounds(2048), batch, q0 => service.EncodeUsers(users.AsSpan(q0, batch)));
            double search = Best(Rounds(2048), batch, q0 => index.SearchBatch(queries.RowRange(q0, batch).Span, k, ids, scores, counts));
            double recall = Best(Rounds(2048), batch, q0 => service.BatchRecall(users.AsSpan(q0, batch), null, k));
            double exact = Best(Rounds(256), batch, q0 => flat.SearchBatch(queries.RowRange(q0, batch).Span, k, ids, scores, counts));
            Console.WriteLine($"{batch,5} {encode,13:F0} {search,14:F0} {recall,13:F0} {exact,14:F0}");
        }
        if (index is HnswIndex hnsw) EfTradeOff(service, hnsw, queries, k);
    }

    /// <summary>What a smaller candidate list (<c>serve --ef-search</c>) buys and costs: recall@k against exact search on the bundle's own item vectors, and one-query-at-a-time QPS.</summary>
    private static void EfTradeOff(RecallService service, HnswIndex hnsw, Tensor queries, int k)
    {
        const int n = 500;
        using var exact = new FlatIndex(hnsw.Dimension, Metric.InnerProduct);
        exact.Add(Enumerable.Range(0, service.ItemCount).Select(i => (long)i).ToArray(), service.LoadItemVectors().Span);
        var truth = new long[n * k]; var ids = new long[k]; var scores = new float[k];
        for (int q = 0; q < n; q++) exact.Search(queries.Row(q), k, truth.AsSpan(q * k, k), scores);
        Console.WriteLine($"ef (bundle's: {hnsw.EfSearch})   recall@{k} vs exact   single-query QPS");
        foreach (int ef in new[] { k, 100, 200, hnsw.EfSearch }.Where(e => e >= k).Distinct().Order())
        {
            long hits = 0;
            var options = new SearchOptions { Ef = ef };
            for (int q = 0; q < n; q++)
            {
                int found = hnsw.Search(queries.Row(q), k, ids, scores, options);
                var expected = truth.AsSpan(q * k, k);
                foreach (long id in ids.AsSpan(0, found)) if (expected.Contains(id)) hits++;
            }
            double qps = Best(n, 1, q0 => hnsw.Search(queries.Row(q0), k, ids, scores, options));
            Console.WriteLine($"{ef,5} {(double)hits / (n * k),22:F4} {qps,20:F0}");
        }
    }

    /// <summary>Queries per second of <paramref name="body"/> over <paramref name="total"/> queries in batches, best of three passes.</summary>
    private static double Best(int total, int batch, Action<int> body)
    {
        double best = 0;
        for (int round = 0; round < 3; round++)
        {
            var clock = Stopwatch.StartNew();
            for (int q0 = 0; q0 + batch <= total; q0 += batch) body(q0);
            best = Math.Max(best, total / clock.Elapsed.TotalSeconds);
        }
        return best;
    }
}
