using VectorRecall.IO;
using VectorRecall.Numerics;
using VectorRecall.Optim;
using VectorRecall.Training;

namespace VectorRecall.Tdm;

/// <summary>
/// TDM checkpoints: the shared training checkpoint (weights, optimiser, position) with the tree's
/// structure as extra arrays, so one file is enough to search, export leaves or resume. The tree's
/// node embeddings are the model's node table.
/// </summary>
public static class TdmCheckpoint
{
    public const string Format = "vrecall-tdm";

    public static void Save(string path, TdmModel model, ItemTree tree, Optimizer? optimizer, CheckpointInfo info)
    {
        var extra = new Dictionary<string, TypedArray>
        {
            ["tree_shape"] = new(ElementType.Int64, [2], new long[] { tree.Branch, tree.Depth }),
            ["tree_codes"] = new(ElementType.Int64, [tree.NodeCount], tree.Codes),
            ["tree_leaf_items"] = new(ElementType.Int32, [tree.NodeCount], Enumerable.Range(0, tree.NodeCount).Select(tree.LeafItem).ToArray()),
        };
        TrainingCheckpoint.Save(path, model, new CheckpointKind(Format, model.Config.ToJson()), optimizer, info, extra);
    }

    /// <summary>Loads weights (and optimiser state) into a model of the same configuration.</summary>
    public static CheckpointInfo LoadInto(string path, TdmModel model, Optimizer? optimizer = null) =>
        Read(path, model, optimizer).Info;

    /// <summary>A model and its tree (node embeddings = the learned node table) from a checkpoint.</summary>
    public static (TdmModel Model, ItemTree Tree, CheckpointInfo Info) Load(string path)
    {
        var metadata = SafeTensors.ReadMetadata(path);
        if (metadata.GetValueOrDefault("format") != Format)
            throw new FileFormatException(path, $"not a TDM checkpoint (metadata 'format' is '{metadata.GetValueOrDefault("format")}', expected '{Format}')");
        var config = TdmConfig.FromJson(TrainingCheckpoint.ConfigJson(path, metadata), path);
        var model = new TdmModel(config, new Rng(0));
        var contents = Read(path, model, null);
        var shape = Extra<long>(path, contents.Extra, "tree_shape", ElementType.Int64, 2);
        var codes = Extra<long>(path, contents.Extra, "tree_codes", ElementType.Int64, config.Nodes);
        var leafItems = Extra<int>(path, contents.Extra, "tree_leaf_items", ElementType.Int32, config.Nodes);
        if (shape[0] is < 2 or > int.MaxValue || shape[1] is < 1 or > 62) throw new FileFormatException(path, $"tree shape gives branch {shape[0]} and depth {shape[1]}");
        var tree = ItemTree.FromArrays((int)shape[0], (int)shape[1], codes, leafItems, model.Nodes.Weight.Value, path);
        if (tree.ItemCount != config.NumItems) throw new FileFormatException(path, $"the tree has {tree.ItemCount} items, the user encoder knows {config.NumItems}");
        return (model, tree, contents.Info);
    }

    private static TrainingCheckpoint.Contents Read(string path, TdmModel model, Optimizer? optimizer) =>
        TrainingCheckpoint.Load(path, model, Format, m => TdmConfig.FromJson(TrainingCheckpoint.ConfigJson(path, m), path).ToJson() == model.Config.ToJson(),
            model.Config.ToJson(), optimizer);

    private static T[] Extra<T>(string path, Dictionary<string, TypedArray> extra, string name, ElementType type, int length)
    {
        if (!extra.TryGetValue(name, out var a)) throw new FileFormatException(path, $"checkpoint has no tree array '{name}'");
        if (a.Type != type || a.Shape.Length != 1 || a.Shape[0] != length)
            throw new FileFormatException(path, $"tree array '{name}' is {a.Type} [{string.Join(", ", a.Shape)}], expected {type} [{length}]");
        return (T[])a.Data;
    }
}
