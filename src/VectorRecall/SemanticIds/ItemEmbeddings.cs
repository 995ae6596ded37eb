using VectorRecall.IO;
using VectorRecall.Numerics;

namespace VectorRecall.SemanticIds;

/// <summary>The RQ-VAE's input: a <c>.npy</c> [num_items × dim] of float32 (or float64) item vectors, every value finite.</summary>
public static class ItemEmbeddings
{
    public static Tensor Load(string path)
    {
        var array = Npy.Read(path);
        if (array.Type is not (ElementType.Float32 or ElementType.Float64))
            throw new FileFormatException(path, $"expected float32 item vectors, found {array.Type.ToString().ToLowerInvariant()} values");
        if (array.Shape.Length != 2)
            throw new FileFormatException(path, $"expected a matrix [num_items, dim], found shape ({string.Join(", ", array.Shape)})");
        if (array.Shape[0] == 0 || array.Shape[1] == 0)
            throw new FileFormatException(path, $"the matrix is empty: shape ({array.Shape[0]}, {array.Shape[1]})");
        var tensor = array.ToTensor();
        int bad = FirstNonFinite(tensor.Span);
        if (bad >= 0)
            throw new FileFormatException(path, $"row {bad / tensor.Cols}, column {bad % tensor.Cols} is {tensor.Span[bad]}: item vectors must be finite");
        return tensor;
    }

    private static int FirstNonFinite(ReadOnlySpan<float> values)
    {
        for (int i = 0; i < values.Length; i++) if (!float.IsFinite(values[i])) return i;
        return -1;
    }
}
