using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Spectre.Console;
using VectorRecall.Data;
using VectorRecall.IO;
using VectorRecall.Numerics;
using VectorRecall.SemanticIds;
using VectorRecall.Serving;
using VectorRecall.Tdm;
using VectorRecall.TwoTower;
using VectorRecall.Retrieval;
using VectorRecall.Towers;

namespace VectorRecall.Cli.Commands;

/// <summary>
/// <c>vrecall eval</c>: all-item ranking on a data set's test split through a serving bundle, for one
/// or more retrievers — exact (<c>flat</c>), the bundle's index (<c>hnsw</c>), the naive scalar loop
/// (<c>scalar</c>), <c>popularity</c>, trained TDM models (<c>tdm</c>, beam search) and semantic ids (<c>semantic</c>, beam search down an RQ-VAE's id trie) — with items the user had in train and validation excluded.
/// Prints the metrics (rows = metric, columns = K) per retriever and two timing tables: the whole
/// inference with metric computation, and the net top-K search; <c>--json</c> writes it all.
/// </summary>
internal static class EvalCommand
{
    private static readonly (RankingMetric Metric, string Name)[] Metrics =
        [(RankingMetric.Hit, "hr"), (RankingMetric.Ndcg, "ndcg"), (RankingMetric.Recall, "recall"), (RankingMetric.Precision, "precision"), (RankingMetric.Mrr, "mrr")];

    public static Command Create()
    {
        var dataset = new Option<string>("--dataset") { Description = $"the data set: {string.Join(", ", DatasetLoaders.Names)}", Required = true };
        var dataDir = new Option<string>("--data-dir", "--data_dir") { Description = "its folder or file", Required = true };
        var bundle = new Option<string>("--bundle") { Description = "serving bundle trained on this data set", DefaultValueFactory = _ => "bundle" };
        var retriever = new Option<string>("--retriever") { Description = "comma-separated: flat, hnsw, scalar, popularity", DefaultValueFactory = _ => "flat,hnsw" };
        var ks = new Option<string>("--ks") { Description = "cut-offs K", DefaultValueFactory = _ => "1,5,10,20,50" };
        var users = new Option<int>("--eval-users", "--eval_users") { Description = "test users to rank for, at most (0: all)", DefaultValueFactory = _ => 0 };
        var json = new Option<string?>("--json") { Description = "write the results as JSON here" };
        var tdmModels = new Option<string[]>("--tdm-model", "--tdm_model") { Description = "TDM checkpoints for --retriever tdm (one retriever each, named by its folder)", AllowMultipleArgumentsPerToken = true, DefaultValueFactory = _ => [] };
        var rqvaeModels = new Option<string[]>("--rqvae-model", "--rqvae_model") { Description = "RQ-VAE checkpoints trained on the bundle's item_vectors.npy for --retriever semantic (one retriever each, named by its file)", AllowMultipleArgumentsPerToken = true, DefaultValueFactory = _ => [] };
        var beam = new Option<int>("--beam") { Description = "beam width of tdm and semantic (at least the largest K)", DefaultValueFactory = _ => 100 };
        var command = new Command("eval", "All-item ranking metrics and timings on a data set's test split, through a serving bundle.")
        {
            dataset, dataDir, bundle, retriever, ks, users, json, tdmModels, rqvaeModels, beam,
        };
        command.SetAction((r, token) => CliErrors.Guard(() => Task.FromResult(Run(r.GetValue(dataset)!, r.GetValue(dataDir)!, r.GetValue(bundle)!,
            r.GetValue(retriever)!, r.GetValue(ks)!, r.GetValue(users), r.GetValue(json), r.GetValue(tdmModels)!, r.GetValue(rqvaeModels)!, r.GetValue(beam), token))));
        return command;
    }

    /// <summary>A TDM checkpoint as a retriever (named "tdm:" and its folder): users encoded by its tower from train and validation, beam search that leaves their items out.</summary>
    private static (string Name, EvaluationResult Result) EvaluateTdm(string checkpoint, int beam, RecDataset data, List<int> users, UserItemLists known, int[] ks, CancellationToken token)
    {
        var (model, tree, info) = TdmCheckpoint.Load(checkpoint);
        if (tree.ItemCount != data.ItemCount || model.Config.User.NumUsers != data.UserCount)
            throw new ArgumentException($"{checkpoint}: the TDM model knows {model.Config.User.NumUsers:N0} users and {tree.ItemCount:N0} items, the data set {data.UserCount:N0} and {data.ItemCount:N0}");
        string name = $"tdm:{Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(checkpoint)))}";
        AnsiConsole.MarkupLineInterpolated($"ranking {users.Count:N0} users with {name} ({model.Config.Scorer} scorer, epoch {info.CompletedEpochs}, beam {beam}) ...");
        var retriever = new TdmRetriever(model, tree, beam, known);
        var userArray = users.ToArray();
        var clock = Stopwatch.StartNew();
        var queries = retriever.EncodeUsers(data, userArray, known);
        double encode = clock.Elapsed.TotalSeconds;
        var result = RetrievalEvaluator.Evaluate(retriever.Search, data.ItemCount, queries, users, data.Test, known, ks, cancel: token);
        AnsiConsole.MarkupLineInterpolated($"  user encoding {encode:F2} s, beam search {result.SearchSeconds:F2} s");
        return (name, result);
    }

    /// <summary>
    /// An RQ-VAE checkpoint as a retriever (named "semantic:" and its file): collision-free ids for the
    /// bundle's item vectors, their trie walked by beam search with the bundle's user vectors.
    /// </summary>
    private static (string Name, EvaluationResult Result) EvaluateSemantic(string checkpoint, int beam, Tensor itemVectors, Tensor queries, List<int> users,
        RecDataset data, UserItemLists known, int[] ks, CancellationToken token)
    {
        var (model, info, _) = RqVaeCheckpoint.Load(checkpoint);
        RqVaeCheckpoint.CheckData(model, itemVectors, checkpoint, "the bundle's item vectors");
        string name = $"semantic:{Path.GetFileNameWithoutExtension(checkpoint)}";
        var clock = Stopwatch.StartNew();
        var (codes, report) = SemanticIdGenerator.Generate(model, itemVectors);
        var retriever = new SemanticIdRetriever(model, itemVectors, codes, beam, known);
        AnsiConsole.MarkupLineInterpolated($"ranking {users.Count:N0} users with {name} (epoch {info.CompletedEpochs}, {codes.Levels} levels, collisions {report.CollisionRateBefore:P2} before resolution, trie of {retriever.Trie.NodeCount:N0} nodes built in {clock.Elapsed.TotalSeconds:F1} s, beam {beam}) ...");
        var result = RetrievalEvaluator.Evaluate(retriever.Search, data.ItemCount, queries, users, data.Test, known, ks, cancel: token);
        return (name, result);
    }

    private static int Run(string datasetName, string dataDir, string bundlePath, string retrieverList, string kList, int maxUsers, string? jsonPath, string[] tdmModels, string[] rqvaeModels, int beam, CancellationToken token)
    {
        var retrievers = retrieverList.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(s => s.ToLowerInvariant()).ToArray();
        foreach (var name in retrievers)
            if (name is not ("flat" or "hnsw" or "scalar" or "popularity" or "tdm" or "semantic")) throw new ArgumentException($"--retriever: unknown '{name}' (expected flat, hnsw, scalar, popularity, tdm, semantic)");
        if (retrievers.Contains("tdm") && tdmModels.Length == 0) throw new ArgumentException("--retriever tdm needs --tdm-model CHECKPOINT (one or more)");
        if (retrievers.Contains("semantic") && rqvaeModels.Length == 0) throw new ArgumentException("--retriever semantic needs --rqvae-model CHECKPOINT (one or more)");
        var ks = kList.Split(',', StringSplitOptions.TrimEntries).Select(k => int.TryParse(k, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v > 0
            ? v : throw new ArgumentException($"--ks: '{k}' is not a positive integer")).Distinct().Order().ToArray();

        if ((retrievers.Contains("tdm") || retrievers.Contains("semantic")) && beam < ks[^1]) throw new ArgumentException($"--beam ({beam}) must be at least the largest K ({ks[^1]})");
        var loaded = DatasetLoaders.Load(datasetName, dataDir);
        var data = RecDataset.FromInteractions(loaded);
        // The two-tower retrievers search the bundle; TDM and popularity do not need one.
        using var service = retrievers.Any(r => r is "flat" or "hnsw" or "scalar" or "semantic") ? RecallService.FromBundle(bundlePath) : null;
        if (service is not null && (service.UserCount != data.UserCount || service.ItemCount != data.ItemCount))
            throw new ArgumentException($"bundle '{bundlePath}' has {service.UserCount:N0} users and {service.ItemCount:N0} items; {loaded.Name} has {data.UserCount:N0} and {data.ItemCount:N0}: it was trained on other data");
        AnsiConsole.MarkupLineInterpolated($"{loaded.Describe()}");

        var known = data.Train.Concat(data.Validation);
        var testUsers = Enumerable.Range(0, data.UserCount).Where(u => data.Test.CountOf(u) > 0).ToList();
        if (maxUsers > 0 && testUsers.Count > maxUsers) testUsers = testUsers.Take(maxUsers).ToList();
        var clock = Stopwatch.StartNew();
        var queries = service?.EncodeUsers(testUsers.Select(u => (long)u).ToArray());
        double encodeSeconds = clock.Elapsed.TotalSeconds;
        var itemVectors = retrievers.Any(r => r is "flat" or "scalar" or "semantic") ? service!.LoadItemVectors() : null;

        var results = new List<(string Name, EvaluationResult Result)>();
        foreach (var name in retrievers)
        {
            token.ThrowIfCancellationRequested();
            if (name == "tdm")
            {
                foreach (var checkpoint in tdmModels) results.Add(EvaluateTdm(checkpoint, beam, data, testUsers, known, ks, token));
                continue;
            }
            if (name == "semantic")
            {
                foreach (var checkpoint in rqvaeModels) results.Add(EvaluateSemantic(checkpoint, beam, itemVectors!, queries!, testUsers, data, known, ks, token));
                continue;
            }
            AnsiConsole.MarkupLineInterpolated($"ranking {testUsers.Count:N0} users with {name} ...");
            EvaluationResult result;
            switch (name)
            {
                case "flat":
                {
                    using var flat = TowerEncoder.BuildIndex(itemVectors!, "Flat");
                    result = RetrievalEvaluator.Evaluate(flat.SearchBatch, flat.Count, queries!, testUsers, data.Test, known, ks, cancel: token);
                    break;
                }
                case "hnsw":
                    result = RetrievalEvaluator.Evaluate(service!.Index.SearchBatch, service.ItemCount, queries!, testUsers, data.Test, known, ks, cancel: token);
                    break;
                case "scalar":
                    result = RetrievalEvaluator.Evaluate(NaiveSearch.Over(itemVectors!), data.ItemCount, queries!, testUsers, data.Test, known, ks, cancel: token);
                    break;
                default:
                {
                    var (users, items) = PopularityBaseline.Vectors(data.Train, data.ItemCount, testUsers.Count);
                    using var popular = TowerEncoder.BuildIndex(items, "Flat");
                    result = RetrievalEvaluator.Evaluate(popular.SearchBatch, popular.Count, users, testUsers, data.Test, known, ks, cancel: token);
                    break;
                }
            }
            results.Add((name, result));
        }

        var report = new StringBuilder();
        foreach (var (name, result) in results)
        {
            report.AppendLine($"### {loaded.Name}: {name} ({result.Metrics.Users:N0} test users, seen items excluded)");
            report.AppendLine();
            report.AppendLine("| metric | " + string.Join(" | ", ks.Select(k => $"@{k}")) + " |");
            report.AppendLine("|---|" + string.Concat(ks.Select(_ => "---|")));
            foreach (var (metric, label) in Metrics)
                report.AppendLine($"| {label.ToUpperInvariant()} | " + string.Join(" | ", ks.Select(k => result.Metrics.Get(metric, k).ToString("F4", CultureInfo.InvariantCulture))) + " |");
            report.AppendLine();
        }
        void Timing(string title, Func<EvaluationResult, double> seconds)
        {
            report.AppendLine(title);
            report.AppendLine();
            report.AppendLine("| retriever | seconds | ms per user |");
            report.AppendLine("|---|---|---|");
            foreach (var (name, result) in results)
                report.AppendLine($"| {name} | {seconds(result):F2} | {1000 * seconds(result) / Math.Max(1, testUsers.Count):F3} |");
            report.AppendLine();
        }
        Timing($"Inference time including metric computation ({testUsers.Count:N0} users; user encoding {encodeSeconds:F2} s, once for all):", r => r.TotalSeconds);
        Timing($"Net top-K search (K = {ks[^1]} plus the user's excluded items):", r => r.SearchSeconds);
        Console.Write(report.ToString());

        if (jsonPath is not null)
        {
            var doc = new Dictionary<string, object>
            {
                ["dataset"] = loaded.Name,
                ["users"] = testUsers.Count,
                ["encode_seconds"] = encodeSeconds,
                ["retrievers"] = results.ToDictionary(r => r.Name, r =>
                {
                    var values = new Dictionary<string, double>();
                    foreach (var (metric, label) in Metrics)
                        foreach (int k in ks) values[$"{label}@{k}"] = r.Result.Metrics.Get(metric, k);
                    values["total_seconds"] = r.Result.TotalSeconds;
                    values["search_seconds"] = r.Result.SearchSeconds;
                    return values;
                }),
            };
            AtomicFile.Write(jsonPath, s => JsonSerializer.Serialize(s, doc, new JsonSerializerOptions { WriteIndented = true }));
            AnsiConsole.MarkupLineInterpolated($"results written to {jsonPath}");
        }
        return 0;
    }
}
