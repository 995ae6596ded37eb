using VectorRecall.Nn;
using VectorRecall.Numerics;

namespace VectorRecall.IO;

/// <summary>
/// A module's state dict as safetensors (<c>torch.save(model.state_dict())</c> with the safetensors
/// format), with string metadata such as the model configuration as JSON. The one conversion between
/// weights and files: training checkpoints and serving bundles go through it.
/// </summary>
public static class StateDictFile
{
    /// <summary>The state dict as float32 arrays, under the module's parameter and buffer names.</summary>
    public static IEnumerable<KeyValuePair<string, TypedArray>> Arrays(Module module) =>
        module.StateDict().Select(kv => KeyValuePair.Create(kv.Key, new TypedArray(ElementType.Float32, kv.Value.Shape.ToArray(), kv.Value.ToArray())));

    public static void Save(string path, Module module, IReadOnlyDictionary<string, string>? metadata = null) =>
        SafeTensors.Write(path, Arrays(module), metadata);

    /// <summary>Loads the file into <paramref name="module"/> (names and shapes must match) and returns its metadata.</summary>
    public static Dictionary<string, string> Load(string path, Module module)
    {
        var (tensors, metadata) = SafeTensors.Read(path);
        LoadInto(path, module, tensors);
        return metadata;
    }

    /// <summary>Puts <paramref name="arrays"/> (all float32, exactly the module's names and shapes) into <paramref name="module"/>; errors name <paramref name="path"/>.</summary>
    public static void LoadInto(string path, Module module, IEnumerable<KeyValuePair<string, TypedArray>> arrays)
    {
        var state = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, array) in arrays)
        {
            if (array.Type != ElementType.Float32) throw new FileFormatException(path, $"tensor '{name}' is {array.Type}, expected float32 weights");
            state[name] = array.ToTensor();
        }
        try { module.LoadStateDict(state, strict: true); }
        catch (InvalidDataException e) { throw new FileFormatException(path, e.Message); }
    }
}
