using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Spectre.Console;
using VectorRecall.Data;
using VectorRecall.IO;
using VectorRecall.Numerics;
using VectorRecall.Retrieval;
using VectorRecall.Serving;
using VectorRecall.Towers;

namespace VectorRecall.Cli.Commands;

/// <summary>
/// <c>vrecall eval</c>: all-item ranking on a data set's test split through serving bundles of any
/// kind, each with one or more retrievers — the bundle's own (<c>bundle</c>: HNSW or flat for a
/// two-tower, beam search for TDM, the id trie for semantic ids), exact search over its item vectors
/// (<c>flat</c>), the naive scalar loop (<c>scalar</c>) and <c>popularity</c> — users encoded by the
/// bundle's encoder exactly as serving does, items they had in train and validation refused inside the
/// search. Prints the metrics (rows = metric, columns = K) per retriever and two timing tables: the
/// whole inference with metric computation, and the net top-K search; <c>--json</c> writes it all.
/// </summary>
internal static class EvalCommand
{

    private static readonly string[] RetrieverNames = ["bundle", "flat", "scalar", "popularity", "graph-filter"];

    public static Command Create()
    {
        var dataset = new Option<string?>("--dataset") { Description = $"the data set's format: {string.Join(", ", DatasetLoaders.Names)} (default: from the --data file's extension)" };
        var data = new DataOptions();
        data.Data.Required = true;
        var bundles = new Option<string[]>("--bundle") { Description = "serving bundles trained on this data set, of any kind (one or more)", AllowMultipleArgumentsPerToken = true, DefaultValueFactory = _ => ["bundle"] };
        var retriever = new Option<string?>("--retriever") { Description = "comma-separated: bundle (the bundle's own search, whatever its kind: HNSW, TDM beam search, the semantic-id trie), flat, scalar, popularity, graph-filter (training-free GF-CF item-item filter over the training graph: items² floats of memory, not servable; default: flat where the bundle has item vectors, and bundle)" };
        var ks = new Option<string>("--ks") { Description = "cut-offs K", DefaultValueFactory = _ => "1,5,10,20,50" };
        var users = new Option<int>("--eval-users", "--eval_users") { Description = "test users to rank for, at most (0: all)", DefaultValueFactory = _ => 0 };
        var json = new Option<string?>("--json") { Description = "write the results as JSON here" };
        var width = new Option<int>("--ef-search", "--beam") { Description = "width of the bundle's search: HNSW's ef or the beam of tree search (0: the bundle's own)", DefaultValueFactory = _ => 0 };
        var filterRank = new Option<int>("--filter-rank") { Description = "graph-filter: eigenvectors in its ideal low-pass part, 0 for the linear filter alone (GF-CF's Gowalla setting: 256)", DefaultValueFactory = _ => 256 };
        var filterWeight = new Option<float>("--filter-weight") { Description = "graph-filter: weight of the ideal low-pass part against the linear filter", DefaultValueFactory = _ => 0.3f };
        var command = new Command("eval", "All-item ranking metrics and timings on a data set's test split, through serving bundles of any kind.")
        {
            dataset, bundles, retriever, ks, users, json, width, filterRank, filterWeight,
        };
        foreach (var o in data.All) command.Add(o);
        command.SetAction((r, token) => CliErrors.Guard(() => Task.FromResult(Run(new EvalRequest(
            DataOptions.RequireDataset(r.GetValue(dataset), r.GetValue(data.Data)!),
            r.GetValue(data.Data)!, data.Format(r), r.GetValue(bundles)!,
            ParseRetrievers(r.GetValue(retriever)), ParseKs(r.GetValue(ks)!), r.GetValue(users), r.GetValue(json), r.GetValue(width),
            r.GetValue(filterRank), r.GetValue(filterWeight)), token))));
        return command;
    }

    private sealed record EvalRequest(string Dataset, string DataDir, TableFormat Format, string[] Bundles, string[]? Retrievers, int[] Ks, int MaxUsers, string? JsonPath, int Width, int FilterRank, float FilterWeight);

    private static string[]? ParseRetrievers(string? list)
    {
        if (list is null) return null;
        var names = list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(s => s.ToLowerInvariant()).Distinct().ToArray();
        foreach (var name in names)
            if (!RetrieverNames.Contains(name)) throw new ArgumentException($"--retriever: unknown '{name}' (expected {string.Join(", ", RetrieverNames)})");
        return names.Length > 0 ? names : throw new ArgumentException("--retriever: name at least one retriever");
    }

    private static int[] ParseKs(string list) => list.Split(',', StringSplitOptions.TrimEntries)
        .Select(k => int.TryParse(k, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v > 0 ? v : throw new ArgumentException($"--ks: '{k}' is not a positive integer"))
        .Distinct().Order().ToArray();

    private static int Run(EvalRequest request, CancellationToken token)
    {
        if (request.Width < 0) throw new ArgumentException($"--ef-search must be >= 0, got {request.Width}");
        if (request.FilterRank < 0) throw new ArgumentException($"--filter-rank must be >= 0, got {request.FilterRank}");
        var loaded = DatasetLoaders.Load(request.Dataset, request.DataDir, request.Format);
        var data = RecDataset.FromInteractions(loaded);
        AnsiConsole.MarkupLineInterpolated($"{loaded.Describe()}");
        var known = data.Train.Concat(data.Validation);
        var testUsers = Enumerable.Range(0, data.UserCount).Where(u => data.Test.CountOf(u) > 0).ToList();
        if (request.MaxUsers > 0 && testUsers.Count > request.MaxUsers) testUsers = testUsers.Take(request.MaxUsers).ToList();
        var results = new List<(string Name, EvaluationResult Result, double EncodeSeconds)>();
        foreach (var bundlePath in request.Bundles)
        {
            using var service = RecallService.FromBundle(bundlePath);
            if (service.UserCount != data.UserCount || service.ItemCount != data.ItemCount)
                throw new ArgumentException($"bundle '{bundlePath}' has {service.UserCount:N0} users and {service.ItemCount:N0} items; {loaded.Name} has {data.UserCount:N0} and {data.ItemCount:N0}: it was trained on other data");
            var clock = Stopwatch.StartNew();
            var queries = service.EncodeUsers(testUsers.Select(u => (long)u).ToArray());
            double encodeSeconds = clock.Elapsed.TotalSeconds;
            string prefix = request.Bundles.Length > 1 ? $"{Path.GetFileName(Path.GetFullPath(bundlePath).TrimEnd('/'))}:" : "";
            var names = request.Retrievers ?? (service.Kind == BundleKind.Tdm ? ["bundle"] : ["flat", "bundle"]);
            foreach (var name in names)
            {
                token.ThrowIfCancellationRequested();
                if (name == "graph-filter")
                {
                    // Needs no bundle: ranked once, whatever the bundles.
                    if (!results.Any(r => r.Name == "graph-filter")) results.Add(("graph-filter", EvaluateGraphFilter(data, known, testUsers, request, token), 0));
                    continue;
                }
                var retriever = RetrieverFor(name, service, data, testUsers.Count, queries, out var users);
                try
                {
                    AnsiConsole.MarkupLineInterpolated($"ranking {testUsers.Count:N0} users with {prefix}{retriever.Name} ...");
                    var result = RetrievalEvaluator.Evaluate(retriever, users, testUsers, data.Test, known, request.Ks, name == "bundle" ? request.Width : 0, cancel: token);
                    results.Add(($"{prefix}{retriever.Name}", result, encodeSeconds));
                }
                finally
                {
                    if (retriever != service.Retriever) retriever.Dispose();  // the bundle's own is the service's to dispose
                }
            }
        }
        Report(loaded.Name, request, testUsers.Count, results);
        return 0;
    }

    /// <summary>The graph filter built from the known (train and validation) interactions and ranked for the test users, their queries made a chunk at a time (each is a row over all items).</summary>
    private static EvaluationResult EvaluateGraphFilter(RecDataset data, UserItemLists known, List<int> testUsers, EvalRequest request, CancellationToken token)
    {
        var ks = request.Ks;
        var total = Stopwatch.StartNew();
        int rank = Math.Min(request.FilterRank, data.ItemCount);
        AnsiConsole.MarkupLineInterpolated($"building the graph filter over {data.ItemCount:N0} items ({(long)data.ItemCount * data.ItemCount * 4 / (1 << 20):N0} MiB{(rank > 0 ? $"; {rank} eigenvectors, weight {request.FilterWeight}" : "")}) ...");
        using var filter = GraphFilterRetriever.Build(known, data.ItemCount, rank, request.FilterWeight);
        AnsiConsole.MarkupLineInterpolated($"built in {total.Elapsed.TotalSeconds:F1} s; ranking {testUsers.Count:N0} users with graph-filter ...");
        var metrics = new RankingMetrics(ks);
        const int chunk = 1024;
        var queries = new Tensor(Math.Min(chunk, testUsers.Count), data.ItemCount);
        double search = 0;
        for (int start = 0; start < testUsers.Count; start += chunk)
        {
            var users = testUsers.GetRange(start, Math.Min(chunk, testUsers.Count - start));
            var q = users.Count == queries.Rows ? queries : new Tensor(users.Count, data.ItemCount);
            for (int r = 0; r < users.Count; r++) GraphFilterRetriever.Query(known.Of(users[r]), q.Row(r));
            search += RetrievalEvaluator.Rank(filter, q, users, known, metrics.MaxK, 0, chunk,
                (user, ranked) => metrics.Add(ranked, new HashSet<int>(data.Test.Of(user).ToArray())), cancel: token);
        }
        return new EvaluationResult(metrics, search, total.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// The retriever a name stands for on this bundle, and the user vectors it searches with: the
    /// bundle's encoder's for all but popularity, which ranks every user alike.
    /// </summary>
    private static IRetriever RetrieverFor(string name, RecallService service, RecDataset data, int userCount, Tensor queries, out Tensor users)
    {
        users = queries;
        if (name is "flat" or "scalar" && service.Kind == BundleKind.Tdm)
            throw new ArgumentException($"--retriever {name}: a TDM bundle keeps no item vectors to search exactly; use --retriever bundle");
        switch (name)
        {
            case "bundle": return service.Retriever;
            case "flat": return new IndexRetriever(TowerEncoder.BuildIndex(service.LoadItemVectors(), "Flat"), "flat");
            case "scalar": return new NaiveSearch(service.LoadItemVectors());
            default:
                users = PopularityRetriever.Queries(userCount);
                return new PopularityRetriever(data.Train, data.ItemCount);
        }
    }

    private static void Report(string dataset, EvalRequest request, int userCount, List<(string Name, EvaluationResult Result, double EncodeSeconds)> results)
    {
        var ks = request.Ks;
        var report = new StringBuilder();
        foreach (var (name, result, _) in results)
        {
            report.AppendLine($"### {dataset}: {name} ({result.Metrics.Users:N0} test users, seen items excluded)");
            report.AppendLine();
            report.AppendLine("| metric | " + string.Join(" | ", ks.Select(k => $"@{k}")) + " |");
            report.AppendLine("|---|" + string.Concat(ks.Select(_ => "---|")));
            foreach (var metric in RankingMetricNames.All)
                report.AppendLine($"| {metric.Key().ToUpperInvariant()} | " + string.Join(" | ", ks.Select(k => result.Metrics.Get(metric, k).ToString("F4", CultureInfo.InvariantCulture))) + " |");
            report.AppendLine();
        }
        void Timing(string title, Func<EvaluationResult, double> seconds)
        {
            report.AppendLine(title);
            report.AppendLine();
            report.AppendLine("| retriever | seconds | ms per user |");
            report.AppendLine("|---|---|---|");
            foreach (var (name, result, _) in results)
                report.AppendLine($"| {name} | {seconds(result):F2} | {1000 * seconds(result) / Math.Max(1, userCount):F3} |");
            report.AppendLine();
        }
        string encoding = string.Join(", ", results.Select(r => r.EncodeSeconds).Distinct().Select(s => $"{s:F2} s"));
        Timing($"Inference time including metric computation ({userCount:N0} users; user encoding {encoding}, once per bundle):", r => r.TotalSeconds);
        Timing($"Net top-K search (K = {ks[^1]}, the user's seen items refused inside the search):", r => r.SearchSeconds);
        Console.Write(report.ToString());
        if (request.JsonPath is not null) WriteJson(request.JsonPath, dataset, userCount, ks, results);
    }

    private static void WriteJson(string path, string dataset, int userCount, int[] ks, List<(string Name, EvaluationResult Result, double EncodeSeconds)> results)
    {
        var doc = new Dictionary<string, object>
        {
            ["dataset"] = dataset,
            ["users"] = userCount,
            ["encode_seconds"] = results.Count > 0 ? results[0].EncodeSeconds : 0,
            ["retrievers"] = results.ToDictionary(r => r.Name, r =>
            {
                var values = new Dictionary<string, double>();
                foreach (var metric in RankingMetricNames.All)
                    foreach (int k in ks) values[$"{metric.Key()}@{k}"] = r.Result.Metrics.Get(metric, k);
                values["total_seconds"] = r.Result.TotalSeconds;
                values["search_seconds"] = r.Result.SearchSeconds;
                values["encode_seconds"] = r.EncodeSeconds;
                return values;
            }),
        };
        AtomicFile.Write(path, s => JsonSerializer.Serialize(s, doc, new JsonSerializerOptions { WriteIndented = true }));
        AnsiConsole.MarkupLineInterpolated($"results written to {path}");
    }
}
