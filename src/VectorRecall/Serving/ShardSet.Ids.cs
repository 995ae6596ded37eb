using System.Globalization;
using System.Text.Json.Nodes;
using VectorRecall.Data;
using VectorRecall.IO;

namespace VectorRecall.Serving;

public sealed partial class ShardSet
{
    /// <summary>
    /// Where each shard's own bundle items are listed: <c>shard-NNNN.rows.npy</c> (their rows, ascending) beside
    /// <c>shard-NNNN.ids.npy</c> (or <c>.json</c> for string ids: their ids, in the same order), so a shard's writer learns
    /// which ids the bundle gave its shard from its share alone, not by reading and hashing every id of the catalogue.
    /// Sets written before these files read the bundle's whole id list instead.
    /// </summary>
    private sealed record OwnedIdFiles(string Rows, long RowsBytes, string RowsCrc, string Ids, long IdsBytes, string IdsCrc);

    private readonly OwnedIdFiles?[] _owned;

    private static string OwnedRowsName(int shard) => $"{ShardName(shard)}.rows.npy";

    private static (string Npy, string Json) OwnedIdsNames(int shard) => ($"{ShardName(shard)}.ids.npy", $"{ShardName(shard)}.ids.json");

    /// <summary>Writes shard <paramref name="shard"/>'s bundle items (ids and rows, by row) into <paramref name="folder"/>; returns their manifest entry.</summary>
    private static JsonObject WriteOwnedIds(string folder, int shard, IReadOnlyList<(string Key, int Row)> owned)
    {
        string rowsName = OwnedRowsName(shard);
        Npy.Write(Path.Combine(folder, rowsName), [.. owned.Select(o => o.Row)], [owned.Count]);
        var (npy, json) = OwnedIdsNames(shard);
        string idsName = ServingBundle.WriteIds(folder, npy, json, IdMap.FromKeys(owned.Select(o => o.Key)));
        return new JsonObject { ["rows"] = Listing(folder, rowsName), ["ids"] = Listing(folder, idsName) };
    }

    private static JsonObject Listing(string folder, string name)
    {
        var (bytes, crc) = ServingBundle.Checksum(Path.Combine(folder, name));
        return new JsonObject { ["file"] = name, ["bytes"] = bytes, ["crc32c"] = crc.ToString("x8", CultureInfo.InvariantCulture) };
    }

    /// <summary>The manifest's listing of a shard's own ids (<c>files.shard-NNNN.vrix.owned</c>), null for a set written before them.</summary>
    private static OwnedIdFiles? ReadOwnedListing(JsonObject entry, string path, int shard)
    {
        if (entry["owned"] is not JsonObject owned) return null;
        string prefix = $"files.{ShardFileName(shard)}.owned";
        (string File, long Bytes, string Crc) Part(string part, params string[] names)
        {
            var o = owned[part] as JsonObject ?? throw new FileFormatException(path, $"field '{prefix}.{part}' is missing");
            string file = JsonFields.String(o, "file", path, $"{prefix}.{part}");
            if (!names.Contains(file)) throw new FileFormatException(path, $"field '{prefix}.{part}.file' is '{Excerpt.Of(file)}', expected {string.Join(" or ", names)}");
            return (file, JsonFields.Int64(o, "bytes", path, 0, prefix: $"{prefix}.{part}"), JsonFields.String(o, "crc32c", path, $"{prefix}.{part}"));
        }
        var rows = Part("rows", OwnedRowsName(shard));
        var (npy, json) = OwnedIdsNames(shard);
        var ids = Part("ids", npy, json);
        return new OwnedIdFiles(rows.File, rows.Bytes, rows.Crc, ids.File, ids.Bytes, ids.Crc);
    }

    /// <summary>
    /// The ids the bundle gave shard <paramref name="shard"/>, with their rows: from the shard's own files (checked against
    /// the manifest), or, for a set written before them, from the bundle's whole id list.
    /// </summary>
    internal IEnumerable<(string Key, int Row)> OwnedIds(int shard)
    {
        if ((uint)shard >= (uint)Shards) throw new ArgumentOutOfRangeException(nameof(shard), $"shard {shard} is not in this set of {Shards}");
        if (_owned[shard] is not { } files)
        {
            var all = ServingBundle.LoadItemIds(BundlePath);
            return Enumerable.Range(0, all.Count).Where(row => OwnerOf(all[row], Shards) == shard).Select(row => (all[row], row));
        }
        string rowsPath = Path.Combine(Directory, files.Rows), idsPath = Path.Combine(Directory, files.Ids);
        ServingBundle.VerifyListedFile(rowsPath, files.RowsBytes, files.RowsCrc);
        ServingBundle.VerifyListedFile(idsPath, files.IdsBytes, files.IdsCrc);
        var rows = ServingBundle.ReadArray<int>(rowsPath, ElementType.Int32);
        var ids = ServingBundle.ReadIdFile(idsPath);
        if (ids.Count != rows.Length) throw new FileFormatException(idsPath, $"lists {ids.Count} ids for the {rows.Length} rows of {files.Rows}");
        for (int i = 0; i < rows.Length; i++)
            if ((uint)rows[i] >= (uint)Items) throw new FileFormatException(rowsPath, $"row {i} is {rows[i]}, outside the bundle's {Items} items");
        return Enumerable.Range(0, rows.Length).Select(i => (ids[i], rows[i]));
    }
}
