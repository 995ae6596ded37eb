using VectorRecall.Nn;
using VectorRecall.Numerics;

namespace VectorRecall.IO;

/// <summary>Saves and loads a module's state dict as safetensors, with string metadata (such as the model configuration as JSON).</summary>
public static class Checkpoint
{
    public static void Save(Module module, string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var tensors = module.StateDict()
            .Select(kv => KeyValuePair.Create(kv.Key, new TypedArray(ElementType.Float32, kv.Value.Shape.ToArray(), kv.Value.ToArray())));
        SafeTensors.Write(path, tensors, metadata);
    }

    /// <summary>Loads the file into <paramref name="module"/> (names and shapes must match) and returns its metadata.</summary>
    public static Dictionary<string, string> Load(Module module, string path, bool strict = true)
    {
        var (tensors, metadata) = SafeTensors.Read(path);
        var state = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, array) in tensors)
        {
            if (array.Type != ElementType.Float32) throw new FileFormatException(path, $"tensor '{name}' is {array.Type}, expected float32 weights");
            state[name] = array.ToTensor();
        }
        try { module.LoadStateDict(state, strict); }
        catch (InvalidDataException e) { throw new FileFormatException(path, e.Message); }
        return metadata;
    }
}
