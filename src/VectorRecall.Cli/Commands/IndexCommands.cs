using System.CommandLine;
using System.Diagnostics;
using Spectre.Console;
using VectorRecall.Indexing;
using VectorRecall.IO;
using VectorRecall.Numerics;

namespace VectorRecall.Cli.Commands;

/// <summary><c>vrecall index build</c> and <c>vrecall index search</c>.</summary>
internal static class IndexCommands
{
    public static Command Create()
    {
        var index = new Command("index", "Build and search vector indexes.");
        index.Add(Build());
        index.Add(Search());
        return index;
    }

    private static Command Build()
    {
        var input = new Option<string>("--data") { Description = "vectors: .npy (float32/float64), .fvecs or .bvecs", Required = true };
        var ids = new Option<string?>("--ids") { Description = "optional .npy of int64/int32 ids, one per vector (default: row numbers)" };
        var type = new Option<string>("--type") { Description = "hnsw or flat", DefaultValueFactory = _ => "hnsw" };
        var metric = MetricOption();
        var m = LinksOption();
        var efc = EfConstructionOption();
        var efs = new Option<int>("--ef-search", "--ef_search") { Description = "HNSW default candidate list while searching", DefaultValueFactory = _ => 100 };
        var seed = new Option<ulong>("--seed") { Description = "seed of the HNSW level draws", DefaultValueFactory = _ => 42 };
        var output = new Option<string>("--output") { Description = "index file to write", Required = true };
        var storage = StorageOption();
        var refine = RefineOption();
        var refineStorage = RefineStorageOption();
        var command = new Command("build", "Build an index from a vector file and save it.") { input, ids, type, metric, m, efc, efs, seed, storage, refine, refineStorage, output };
        command.SetAction((r, token) => CliErrors.Guard(() =>
        {
            var options = new HnswOptions { M = r.GetValue(m), EfConstruction = r.GetValue(efc), EfSearch = r.GetValue(efs), Seed = r.GetValue(seed), Storage = ParseStorage(r.GetValue(storage)!), Refine = CheckRefine(r.GetValue(refine)),
                RefineStorage = ParseRefineStorage(r.GetValue(refineStorage)!) };
            var (index, seconds) = BuildIndex(r.GetValue(input)!, r.GetValue(ids), r.GetValue(type)!, MetricExtensions.Parse(r.GetValue(metric)!), options, token);
            using (index)
            {
                string path = r.GetValue(output)!;
                index.Save(path);
                AnsiConsole.MarkupLineInterpolated($"build_s {seconds:F2}");
                AnsiConsole.MarkupLineInterpolated($"wrote {path} ({new FileInfo(path).Length:N0} bytes, {index.Count:N0} vectors)");
            }
            return Task.FromResult(0);
        }));
        return command;
    }

    private static Command Search()
    {
        var indexPath = new Option<string>("--index") { Description = "index file written by `vrecall index build`", Required = true };
        var queries = new Option<string>("--queries") { Description = "query vectors: .npy, .fvecs or .bvecs", Required = true };
        var k = new Option<int>("--top-k", "--top_k") { Description = "results per query", DefaultValueFactory = _ => 10 };
        var ef = new Option<int>("--ef-search", "--ef_search") { Description = "HNSW candidate list (default: the index's)", DefaultValueFactory = _ => 0 };
        var output = new Option<string>("--output") { Description = "where to write the ids (.npy int64, queries × k; −1 where fewer were found)", DefaultValueFactory = _ => "ids.npy" };
        var scoresOut = new Option<string?>("--scores-out") { Description = "optional .npy for the scores (float32)" };
        var command = new Command("search", "Search an index for every query; write the ids (and scores) as .npy.") { indexPath, queries, k, ef, output, scoresOut };
        command.SetAction((r, token) => CliErrors.Guard(() =>
        {
            int kk = r.GetValue(k), efValue = r.GetValue(ef);
            if (kk <= 0) throw new ArgumentException($"--top-k must be positive, got {kk}");
            using var index = IndexFactory.Load(r.GetValue(indexPath)!);
            if (efValue > 0 && index is HnswIndex hnsw) hnsw.EfSearch = efValue;
            var q = VectorFiles.ReadMatrix(r.GetValue(queries)!);
            if (q.Cols != index.Dimension) throw new ArgumentException($"{r.GetValue(queries)}: queries have dimension {q.Cols}, the index has {index.Dimension}");
            int nq = q.Rows;
            var ids = new long[(long)nq * kk];
            var scores = new float[(long)nq * kk];
            var counts = new int[nq];
            var clock = Stopwatch.StartNew();
            index.SearchBatch(q.Span, kk, ids, scores, counts);
            double seconds = clock.Elapsed.TotalSeconds;
            string output1 = r.GetValue(output)!;
            Npy.Write(output1, ids, [nq, kk]);
            if (r.GetValue(scoresOut) is { } sp) Npy.Write(sp, scores, [nq, kk]);
            AnsiConsole.MarkupLineInterpolated($"searched {nq:N0} queries (k={kk}) in {seconds:F3} s ({nq / Math.Max(seconds, 1e-9):N0} queries/s on {Threads.Count} threads); ids written to {output1}");
            return Task.FromResult(0);
        }));
        return command;
    }

    /// <summary>Reads vectors and ids, builds the index with a progress bar, and returns it with the build seconds.</summary>
    internal static (IVectorIndex Index, double Seconds) BuildIndex(string input, string? idsPath, string type, Metric metric, HnswOptions options, CancellationToken token)
    {
        var vectors = VectorFiles.ReadMatrix(input);
        int n = vectors.Rows, dim = vectors.Cols;
        long[] ids;
        if (idsPath is null) ids = Enumerable.Range(0, n).Select(i => (long)i).ToArray();
        else
        {
            var (idValues, rows, cols) = VectorFiles.ReadIds(idsPath);
            if (rows != n || cols != 1) throw new ArgumentException($"{idsPath}: {rows} ids for {n} vectors");
            ids = idValues;
        }
        AnsiConsole.MarkupLineInterpolated($"{input}: {n:N0} vectors of dimension {dim}; building {type} ({metric.ShortName()})");
        IVectorIndex index = type.ToLowerInvariant() switch
        {
            "hnsw" => new HnswIndex(dim, metric, options),
            "flat" => new FlatIndex(dim, metric),
            _ => throw new ArgumentException($"--type must be hnsw or flat, got '{type}'"),
        };
        var clock = Stopwatch.StartNew();
        try
        {
            if (index is HnswIndex hnsw)
            {
                AnsiConsole.Progress().AutoClear(false)
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask($"inserting (M={options.M}, efConstruction={options.EfConstruction})", maxValue: n);
                        hnsw.Add(ids, vectors.Span, new Progress<int>(done => task.Value = done), token);
                        task.Value = n;
                    });
            }
            else index.Add(ids, vectors.Span);
        }
        catch
        {
            index.Dispose();
            throw;
        }
        return (index, clock.Elapsed.TotalSeconds);
    }

    private static readonly HnswOptions HnswDefaults = new();

    /// <summary>--m for every command that builds an HNSW index (its default: the index's, or the pipeline's for its data).</summary>
    internal static Option<int> LinksOption(int? defaultValue = null) =>
        new("--m", "--M") { Description = "HNSW links per node (level 0 keeps 2M); with sq8 on an index much larger than the CPU cache, 24 measured faster at equal recall", DefaultValueFactory = _ => defaultValue ?? HnswDefaults.M };

    /// <summary>--ef-construction for every command that builds an HNSW index.</summary>
    internal static Option<int> EfConstructionOption(int? defaultValue = null) =>
        new("--ef-construction", "--ef_construction", "--efc") { Description = "HNSW candidate list while building; wider builds a better graph, more slowly (for top-500 over 1M items, 400 with --m 48 measured faster at equal recall than 200: docs/indexes.md)", DefaultValueFactory = _ => defaultValue ?? HnswDefaults.EfConstruction };

    internal static Option<string> StorageOption() =>
        new("--storage") { Description = "what the HNSW walk reads: float32, fp16 (half the bytes), sq8 (8-bit codes, a quarter), sq4 (4-bit, an eighth), or rabitq (1-bit codes of each node's neighbours beside its links; expanded nodes scored exactly); with fp16, sq8 and sq4, exact vectors kept apart re-rank the best --refine × k", DefaultValueFactory = _ => "float32" };

    internal static Option<int?> RefineOption() =>
        new("--refine") { Description = "fp16, sq8 and sq4: candidates re-ranked with exact vectors, as a multiple of k (default: 4 for sq4, else 2); 0 keeps no exact vectors in memory, and the codes' order and scores are final" };

    internal static Option<string> RefineStorageOption() =>
        new("--refine-storage", "--refine_storage") { Description = "sq8 and sq4 with --refine above 0: how the exact vectors are kept, float32 or fp16 (half their memory; scores to half precision)", DefaultValueFactory = _ => "float32" };

    /// <summary>The --refine-storage value: float32 or fp16.</summary>
    internal static VectorStorage ParseRefineStorage(string text) => text.ToLowerInvariant() switch
    {
        "float32" or "f32" => VectorStorage.Float32,
        "fp16" or "f16" => VectorStorage.FP16,
        _ => throw new ArgumentException($"--refine-storage: unknown '{text}' (expected float32 or fp16)"),
    };

    /// <summary>The --refine value, refused with one line when negative (null: the storage's default).</summary>
    internal static int? CheckRefine(int? refine) => refine is < 0 ? throw new ArgumentException($"--refine must be at least 0, got {refine}") : refine;

    internal static VectorStorage ParseStorage(string text) => text.ToLowerInvariant() switch
    {
        "float32" or "f32" => VectorStorage.Float32,
        "sq8" => VectorStorage.SQ8,
        "sq4" => VectorStorage.SQ4,
        "fp16" or "f16" => VectorStorage.FP16,
        "rabitq" => VectorStorage.RaBitQ,
        _ => throw new ArgumentException($"--storage: unknown '{text}' (expected float32, fp16, sq8, sq4 or rabitq)"),
    };

    internal static Option<string> MetricOption() =>
        new("--metric") { Description = "ip (inner product), cosine or l2", DefaultValueFactory = _ => "ip" };
}
