using System.Diagnostics;
using VectorRecall.Indexing;
using VectorRecall.Numerics;
using VectorRecall.Serving;

namespace VectorRecall.Benchmarks;

/// <summary>
/// <c>-- recall BUNDLE [k] [storages]</c>: where batch recall time goes for a serving bundle — encoding the
/// users, the index's batch search alone, the whole <see cref="RecallService.BatchRecall"/> — and
/// what exact search (a <see cref="FlatIndex"/> of the same size) would cost instead; for HNSW, recall@k and speed per ef,
/// and with <c>storages</c> (e.g. <c>bundle,float32,sq8,sq4,sq8:0</c>; <c>kind:N</c> sets the refine) the bundle's item vectors indexed again with each storage kind
/// (<c>bundle</c>: the bundle's own index in the same loop).
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
        if (index is not HnswIndex hnsw) return;
        // The bundle's item vectors and their row ids, read once: exact search and every storage kind index them.
        var vectors = service.LoadItemVectors();
        var rows = Enumerable.Range(0, service.ItemCount).Select(i => (long)i).ToArray();
        var truth = ExactTop(vectors, rows, queries, k);
        EfTradeOff(hnsw, queries, truth, k);
        if (args.Length > 2) CompareStorages(vectors, rows, hnsw, queries, truth, k, args[2].Split(','));
    }

    private const int TruthQueries = 500;

    /// <summary>The exact top-k item rows of the first <see cref="TruthQueries"/> queries over the bundle's own item vectors.</summary>
    private static long[] ExactTop(Tensor vectors, long[] rows, Tensor queries, int k)
    {
        using var exact = new FlatIndex(vectors.Shape[1], Metric.InnerProduct);
        exact.Add(rows, vectors.Span);
        var truth = new long[TruthQueries * k]; var scores = new float[k];
        for (int q = 0; q < TruthQueries; q++) exact.Search(queries.Row(q), k, truth.AsSpan(q * k, k), scores);
        return truth;
    }

    private static double RecallAgainst(IVectorIndex index, Tensor queries, long[] truth, int k, SearchOptions options)
    {
        long hits = 0;
        var ids = new long[k]; var scores = new float[k];
        for (int q = 0; q < TruthQueries; q++)
        {
            int found = index.Search(queries.Row(q), k, ids, scores, options);
            var expected = truth.AsSpan(q * k, k);
            foreach (long id in ids.AsSpan(0, found)) if (expected.Contains(id)) hits++;
        }
        return (double)hits / (TruthQueries * k);
    }

    /// <summary>The bundle's item vectors indexed with each storage kind (the bundle's M, efConstruction and ef): what compact storage buys at batch 64.</summary>
    private static void CompareStorages(Tensor vectors, long[] rows, HnswIndex bundled, Tensor queries, long[] truth, int k, string[] storages)
    {
        var options = new SearchOptions { Ef = bundled.EfSearch };
        const int batch = 64;
        var ids = new long[batch * k]; var scores = new float[batch * k]; var counts = new int[batch];
        Console.WriteLine($"storage (ef {bundled.EfSearch})   build s   bytes/vector   recall@{k} vs exact   batch-{batch} QPS   single-query QPS");
        foreach (string name in storages)
        {
            // "bundle": the bundle's own index, timed in the same loop as the rebuilt ones.
            bool own = name.Equals("bundle", StringComparison.OrdinalIgnoreCase);
            // "sq8:0": a storage kind and its refine (0: no exact vectors kept).
            var (kind, refine) = name.Split(':') is [var k0, var r] ? (k0, (int?)int.Parse(r, System.Globalization.CultureInfo.InvariantCulture)) : (name, null);
            var storage = own ? bundled.Options.Storage : Enum.Parse<VectorStorage>(kind, ignoreCase: true);
            var clock = Stopwatch.StartNew();
            using var built = own ? null : new HnswIndex(bundled.Dimension, Metric.InnerProduct, new HnswOptions { M = bundled.M, EfConstruction = bundled.Options.EfConstruction, EfSearch = bundled.EfSearch, Storage = storage, Refine = refine });
            built?.Add(rows, vectors.Span);
            var index = built ?? bundled;
            double build = own ? double.NaN : clock.Elapsed.TotalSeconds;
            double recall = RecallAgainst(index, queries, truth, k, options);
            double batched = Best(Math.Max(1, 2048 / batch) * batch, batch, q0 => index.SearchBatch(queries.RowRange(q0, batch).Span, k, ids, scores, counts));
            double single = Best(TruthQueries, 1, q0 => index.Search(queries.Row(q0), k, ids, scores, options));
            Console.WriteLine($"{(own ? "bundle's " + storage : name),-20} {build,8:F1} {index.BytesPerVector,14:F0} {recall,20:F4} {batched,16:F0} {single,18:F0}");
        }
    }

    /// <summary>What a smaller candidate list (<c>serve --ef-search</c>) buys and costs: recall@k against exact search on the bundle's own item vectors, and one-query-at-a-time QPS.</summary>
    private static void EfTradeOff(HnswIndex hnsw, Tensor queries, long[] truth, int k)
    {
        var ids = new long[k]; var scores = new float[k];
        Console.WriteLine($"ef (bundle's: {hnsw.EfSearch})   recall@{k} vs exact   single-query QPS");
        foreach (int ef in new[] { k, 100, 200, hnsw.EfSearch }.Where(e => e >= k).Distinct().Order())
        {
            var options = new SearchOptions { Ef = ef };
            double recall = RecallAgainst(hnsw, queries, truth, k, options);
            double qps = Best(TruthQueries, 1, q0 => hnsw.Search(queries.Row(q0), k, ids, scores, options));
            Console.WriteLine($"{ef,5} {recall,22:F4} {qps,20:F0}");
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
