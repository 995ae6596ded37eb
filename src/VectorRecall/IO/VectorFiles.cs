using VectorRecall.Numerics;

namespace VectorRecall.IO;

/// <summary>Reads vectors or id lists from whichever format a file's extension names (.npy, .fvecs, .bvecs, .ivecs).</summary>
public static class VectorFiles
{
    /// <summary>A float32 matrix, one vector per row, from .npy, .fvecs or .bvecs.</summary>
    public static Tensor ReadMatrix(string path)
    {
        var vectors = Extension(path) switch
        {
            ".npy" => Npy.ReadMatrix(path),
            ".fvecs" => Vecs.ReadFvecs(path),
            ".bvecs" => Vecs.ReadBvecs(path),
            var ext => throw new ArgumentException($"{path}: unknown vector file type '{ext}' (expected .npy, .fvecs or .bvecs)"),
        };
        if (vectors.Rows == 0 || vectors.Cols == 0)
            throw new FileFormatException(path, $"holds no vectors (shape [{string.Join(", ", vectors.Shape.ToArray())}]): expected at least one row of at least one value");
        return vectors;
    }

    /// <summary>Rows of integer ids (ground truth, neighbour lists), from .npy (int32 or int64) or .ivecs; a 1-d .npy is one column.</summary>
    public static (long[] Ids, int Rows, int Cols) ReadIds(string path)
    {
        switch (Extension(path))
        {
            case ".ivecs":
                var t = Vecs.ReadIvecs(path);
                return (Array.ConvertAll(t.Data, v => (long)v), t.Shape[0], t.Shape[1]);
            case ".npy":
                var a = Npy.Read(path);
                if (a.Shape.Length is not (1 or 2)) throw new FileFormatException(path, $"expected a 1-d or 2-d array of ids, found shape ({string.Join(", ", a.Shape)})");
                long[] ids = a.Data switch
                {
                    int[] i => Array.ConvertAll(i, v => (long)v),
                    long[] l => l,
                    _ => throw new FileFormatException(path, $"expected int32 or int64 ids, found {a.Type}"),
                };
                return (ids, a.Shape[0], a.Shape.Length == 2 ? a.Shape[1] : 1);
            default:
                throw new ArgumentException($"{path}: unknown id file type '{Extension(path)}' (expected .npy or .ivecs)");
        }
    }

    private static string Extension(string path) => Path.GetExtension(path).ToLowerInvariant();
}
