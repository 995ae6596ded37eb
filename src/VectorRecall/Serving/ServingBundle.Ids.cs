using System.Text.Json;
using System.Text.Json.Nodes;
using VectorRecall.Data;
using VectorRecall.IO;

namespace VectorRecall.Serving;

// The users' and items' external ids: int64 arrays when every id is an integer (the format bundles always had for items),
// else JSON arrays of strings. A bundle without user ids (written before them) numbers its users 0 .. n − 1.
public static partial class ServingBundle
{
    internal const string ItemIdsJsonFile = "item_ids.json";
    internal const string UserIdsFile = "user_ids.npy";
    internal const string UserIdsJsonFile = "user_ids.json";

    /// <summary>The largest id file read as JSON: a few hundred bytes per id at most.</summary>
    private const long MaxIdJsonBytes = 1L << 31;

    /// <summary>A bundle's item ids by row (its manifest and id file checked): what files derived from its item vectors are keyed by.</summary>
    public static IdMap LoadItemIds(string directory) => LoadItemIds(directory, ReadManifest(directory));

    /// <summary>As <see cref="LoadItemIds(string)"/>, with the bundle's manifest already read and verified.</summary>
    internal static IdMap LoadItemIds(string directory, JsonObject manifest) => ReadItemIds(directory, manifest, Listed(directory, manifest));

    /// <summary>The names of the files a manifest lists.</summary>
    private static HashSet<string> Listed(string directory, JsonObject manifest) =>
        JsonFields.Object(manifest, "files", Path.Combine(directory, ManifestFile)).Select(f => f.Key).ToHashSet();

    /// <summary>The item ids a manifest lists, checked against its item count (where it states one).</summary>
    private static IdMap ReadItemIds(string directory, JsonObject manifest, HashSet<string> listed)
    {
        string manifestPath = Path.Combine(directory, ManifestFile);
        int items = manifest.ContainsKey("items") ? (int)JsonFields.Int64(manifest, "items", manifestPath, 0, int.MaxValue) : -1;
        return ReadIds(directory, listed, ItemIdsFile, ItemIdsJsonFile, items) ?? throw new FileFormatException(manifestPath, "lists no item ids");
    }

    /// <summary>Writes <paramref name="ids"/> as numbers (<paramref name="npyName"/>) when they all are, else as JSON; returns the file's name.</summary>
    internal static string WriteIds(string staging, string npyName, string jsonName, IdMap ids)
    {
        if (ids.AllNumeric)
        {
            var numbers = ids.ToNumbers();
            Npy.Write(Path.Combine(staging, npyName), numbers, [numbers.Length]);
            return npyName;
        }
        ids.SaveJson(Path.Combine(staging, jsonName));
        return jsonName;
    }

    /// <summary>An id file <see cref="WriteIds"/> wrote (numbers for <c>.npy</c>, JSON otherwise), its ids checked to be distinct and non-empty.</summary>
    internal static IdMap ReadIdFile(string path)
    {
        try { return path.EndsWith(".npy", StringComparison.Ordinal) ? IdMap.FromNumbers(ReadArray<long>(path, ElementType.Int64)) : ReadIdJson(path); }
        catch (ArgumentException e) { throw new FileFormatException(path, e.Message); }  // an empty or repeated id
    }

    /// <summary>Whichever of the two id files the manifest lists (null when neither), checked to hold <paramref name="count"/> distinct ids.</summary>
    private static IdMap? ReadIds(string directory, IReadOnlyCollection<string> listed, string npyName, string jsonName, int count)
    {
        bool numbers = listed.Contains(npyName);
        if (!numbers && !listed.Contains(jsonName)) return null;
        string path = Path.Combine(directory, numbers ? npyName : jsonName);
        var ids = ReadIdFile(path);
        if (count >= 0 && ids.Count != count) throw new FileFormatException(path, $"maps {ids.Count} ids, expected {count}");
        return ids;
    }

    private static IdMap ReadIdJson(string path)
    {
        using var s = ContainedFile.OpenRegular(path);
        if (s.Length > MaxIdJsonBytes) throw new FileFormatException(path, $"is {s.Length:N0} bytes, more than an id list holds");
        var bytes = new byte[s.Length];
        s.ReadExactly(bytes);
        using var doc = JsonFields.ParseDocument(bytes, path);
        if (doc.RootElement.ValueKind != JsonValueKind.Array) throw new FileFormatException(path, $"expected a JSON array of ids, found {doc.RootElement.ValueKind}");
        var keys = new List<string>(doc.RootElement.GetArrayLength());
        int i = 0;
        foreach (var e in doc.RootElement.EnumerateArray())
        {
            keys.Add(e.ValueKind switch
            {
                JsonValueKind.String => e.GetString()!,
                JsonValueKind.Number when e.TryGetInt64(out long n) => IdMap.KeyOf(n),
                _ => throw new FileFormatException(path, $"id {i} is {e.ValueKind}, expected a string or an integer"),
            });
            i++;
        }
        return IdMap.FromKeys(keys);
    }
}
