using System.CommandLine;
using Spectre.Console;
using VectorRecall.Data;
using VectorRecall.SemanticIds;
using VectorRecall.Numerics;
using VectorRecall.Serving;
using VectorRecall.Tdm;

namespace VectorRecall.Cli.Commands;

/// <summary>
/// <c>vrecall bundle</c>: a serving bundle from a trained TDM model (with the data set it was trained
/// on) or from an RQ-VAE (with the two-tower bundle whose item vectors it was trained on), so that
/// <c>vrecall serve</c> and <c>vrecall eval</c> take every paradigm alike. Two-tower bundles come from <c>vrecall train</c>.
/// </summary>
internal static class BundleCommand
{
    public static Command Create()
    {
        var tdmModel = new Option<string?>("--tdm-model", "--tdm_model") { Description = "TDM checkpoint (best_model.safetensors) to serve; needs --dataset and --data" };
        var rqvaeModel = new Option<string?>("--rqvae-model", "--rqvae_model") { Description = "RQ-VAE checkpoint trained on the --from bundle's item_vectors.npy, to serve as semantic ids" };
        var from = new Option<string?>("--from") { Description = "the two-tower bundle an RQ-VAE was trained on (its user tower, item vectors and users)" };
        var dataset = new Option<string?>("--dataset") { Description = $"the format of the data a TDM model was trained on: {string.Join(", ", DatasetLoaders.Names)} (default: from the --data file's extension)" };
        var data = new DataOptions();
        var beam = new Option<int>("--beam") { Description = "beam width of the bundle's tree search (at least the top-K served)", DefaultValueFactory = _ => 100 };
        var output = new Option<string>("--bundle") { Description = "bundle folder to write", Required = true };
        var command = new Command("bundle", "Write a serving bundle for a TDM model (--tdm-model with --data, the data it was trained on) or for semantic ids (--rqvae-model with --from).")
        {
            tdmModel, rqvaeModel, from, dataset, beam, output,
        };
        foreach (var o in data.All) command.Add(o);
        command.SetAction((r, token) => CliErrors.Guard(() =>
        {
            string? tdm = r.GetValue(tdmModel), rq = r.GetValue(rqvaeModel);
            if ((tdm is null) == (rq is null)) throw new ArgumentException("give one of --tdm-model or --rqvae-model");
            if (tdm is not null)
            {
                string path = r.GetValue(data.Data) ?? throw new ArgumentException("--tdm-model needs --data, the data it was trained on");
                var loaded = DatasetLoaders.Load(DataOptions.RequireDataset(r.GetValue(dataset), path), path, data.Format(r));
                var (model, tree, info) = TdmCheckpoint.Load(tdm);
                WriteTdm(r.GetValue(output)!, model, tree, r.GetValue(beam), loaded, RecDataset.FromInteractions(loaded));
                AnsiConsole.MarkupLineInterpolated($"TDM bundle (epoch {info.CompletedEpochs}, beam {r.GetValue(beam)}) written to {Path.GetFullPath(r.GetValue(output)!)}");
            }
            else
            {
                string source = r.GetValue(from) ?? throw new ArgumentException("--rqvae-model needs --from BUNDLE, the two-tower bundle it was trained on");
                WriteSemanticIds(r.GetValue(output)!, source, rq!, r.GetValue(beam));
            }
            return Task.FromResult(0);
        }));
        return command;
    }

    /// <summary>A TDM bundle: the users' stored history and seen items are their train and validation items, as for a two-tower bundle.</summary>
    public static void WriteTdm(string directory, TdmModel model, ItemTree tree, int beam, InteractionDataset loaded, RecDataset data)
    {
        if (tree.ItemCount != data.ItemCount || model.Config.User is { } tower && tower.NumUsers != data.UserCount)
            throw new ArgumentException($"the TDM model knows {model.Config.User?.NumUsers ?? data.UserCount:N0} users and {tree.ItemCount:N0} items, {loaded.Name} has {data.UserCount:N0} and {data.ItemCount:N0}");
        var known = data.Train.Concat(data.Validation);
        // A sequence encoder reads no profile features.
        var features = model.User is null ? new Tensor(data.UserCount, 0) : data.UserFeatures;
        ServingBundle.SaveTdm(directory, model, tree, beam, loaded.ItemIds, features, known, known, loaded.UserIds);
    }

    private static void WriteSemanticIds(string directory, string source, string checkpoint, int beam)
    {
        var (model, info, _) = RqVaeCheckpoint.Load(checkpoint);
        string vectorsPath = Path.Combine(source, "item_vectors.npy");
        var items = ItemEmbeddings.Load(vectorsPath);
        RqVaeCheckpoint.CheckData(model, items, checkpoint, vectorsPath);
        var (codes, report) = SemanticIdGenerator.Generate(model, items);
        ServingBundle.SaveSemanticIds(directory, source, model, codes, beam);
        AnsiConsole.MarkupLineInterpolated($"semantic-id bundle (epoch {info.CompletedEpochs}, {codes.Levels} levels, collisions {report.CollisionRateBefore:P2} before resolution, beam {beam}) written to {Path.GetFullPath(directory)}");
    }
}
