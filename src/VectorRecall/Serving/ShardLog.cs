using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using VectorRecall.IO;
using VectorRecall.Indexing;

namespace VectorRecall.Serving;

/// <summary>What a shard log entry does to its row.</summary>
public enum ShardLogKind : byte
{
    /// <summary>The row holds this vector from now on (added, or replacing the one it had).</summary>
    Upsert = 1,
    /// <summary>The row is removed.</summary>
    Delete = 2,
    /// <summary>A live row's id, its vector already in the shard's index file (written by compaction).</summary>
    Name = 3,
}

/// <summary>One change to a shard: its kind, the item row it changes, the item's id, and for an upsert the vector.</summary>
public sealed record ShardLogEntry(ShardLogKind Kind, int Row, string Key, float[]? Vector = null);

/// <summary>Entries read from a shard log: those at or after the offset asked for, and where the last complete one ends.</summary>
public sealed record ShardLogTail(IReadOnlyList<ShardLogEntry> Entries, long End);

/// <summary>
/// A shard's log of item changes (<c>updates/shard-NNNN.log</c> in a shard set): a 16-byte header (magic, shard, dimension),
/// then records of [payload length u32][CRC-32C of the payload u32][payload], all little-endian. A payload is the kind
/// (u8), the row (i32), the id's UTF-8 length (u16) and bytes, and for an upsert the vector (dimension × f32).
/// Records are appended and flushed to disk before a change is acknowledged, so a crash leaves at most one record cut
/// short at the end of the file: readers stop before it and the writer cuts it off. A complete record that fails its
/// checks is damage, refused with the file and byte offset — never skipped, since the records after it were acknowledged.
/// </summary>
public static class ShardLog
{
    /// <summary>The set's folder of logs.</summary>
    public const string Folder = "updates";
    /// <summary>The longest id, in UTF-8 bytes.</summary>
    public const int MaxKeyBytes = 1024;
    public const int HeaderBytes = 16;
    private const int RecordHeaderBytes = 8;
    private static ReadOnlySpan<byte> Magic => "VRSLOG01"u8;
    private static readonly UTF8Encoding StrictUtf8 = new(false, throwOnInvalidBytes: true);

    /// <summary>The log of shard <paramref name="shard"/> inside a set's folder.</summary>
    public static string PathOf(string setDirectory, int shard) =>
        Path.Combine(setDirectory, Folder, $"{ShardSet.ShardName(shard)}.log");

    private static int MaxPayload(int dimension) => 1 + 4 + 2 + MaxKeyBytes + 4 * dimension;

    /// <summary>
    /// The entries of the log at <paramref name="path"/> from byte <paramref name="offset"/> (0: the start, header checked
    /// against <paramref name="shard"/> and <paramref name="dimension"/>) to its last complete record. A missing file has none.
    /// </summary>
    public static ShardLogTail Read(string path, int shard, int dimension, long offset = 0)
    {
        if (!File.Exists(path)) return new ShardLogTail([], 0);
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16);
        return Read(file, path, shard, dimension, offset);
    }

    internal static ShardLogTail Read(FileStream file, string path, int shard, int dimension, long offset)
    {
        long length = file.Length;
        var entries = new List<ShardLogEntry>();
        if (offset == 0)
        {
            if (length < HeaderBytes) return new ShardLogTail(entries, 0);   // a header cut short: nothing was ever acknowledged
            Span<byte> header = stackalloc byte[HeaderBytes];
            file.Position = 0;
            file.ReadExactly(header);
            if (!header[..8].SequenceEqual(Magic)) throw new FileFormatException(path, "is not a shard log (bad magic)");
            int s = BinaryPrimitives.ReadInt32LittleEndian(header[8..]), d = BinaryPrimitives.ReadInt32LittleEndian(header[12..]);
            if (s != shard || d != dimension) throw new FileFormatException(path, $"is the log of shard {s} with {d}-wide vectors, expected shard {shard} with {dimension}");
            offset = HeaderBytes;
        }
        file.Position = offset;
        int max = MaxPayload(dimension);
        var payload = new byte[Math.Min(max, 1 << 16)];
        Span<byte> head = stackalloc byte[RecordHeaderBytes];
        long at = offset;
        while (length - at >= RecordHeaderBytes)
        {
            file.ReadExactly(head);
            uint size = BinaryPrimitives.ReadUInt32LittleEndian(head), crc = BinaryPrimitives.ReadUInt32LittleEndian(head[4..]);
            if (size > max) throw Damaged(path, at, $"claims a {size}-byte record; the longest is {max}");
            if (length - at - RecordHeaderBytes < size) break;   // cut short by a crash
            if (payload.Length < size) payload = new byte[max];
            var body = payload.AsSpan(0, (int)size);
            file.ReadExactly(body);
            bool last = at + RecordHeaderBytes + size == length;
            if (Crc32C.Compute(body) != crc)
            {
                if (last) break;   // the final record's bytes never all reached the disk
                throw Damaged(path, at, "fails its checksum");
            }
            entries.Add(Decode(body, dimension, path, at));
            at += RecordHeaderBytes + size;
        }
        return new ShardLogTail(entries, at);
    }

    private static ShardLogEntry Decode(ReadOnlySpan<byte> p, int dimension, string path, long at)
    {
        if (p.Length < 7) throw Damaged(path, at, $"is {p.Length} bytes, shorter than any record");
        var kind = (ShardLogKind)p[0];
        int row = BinaryPrimitives.ReadInt32LittleEndian(p[1..]);
        int keyBytes = BinaryPrimitives.ReadUInt16LittleEndian(p[5..]);
        if (kind is not (ShardLogKind.Upsert or ShardLogKind.Delete or ShardLogKind.Name)) throw Damaged(path, at, $"has unknown kind {p[0]}");
        if (row < 0) throw Damaged(path, at, $"names row {row}");
        if (keyBytes is 0 or > MaxKeyBytes) throw Damaged(path, at, $"has a {keyBytes}-byte id (1 to {MaxKeyBytes})");
        int vectorBytes = kind == ShardLogKind.Upsert ? 4 * dimension : 0;
        if (p.Length != 7 + keyBytes + vectorBytes) throw Damaged(path, at, $"is {p.Length} bytes; a {kind} with a {keyBytes}-byte id is {7 + keyBytes + vectorBytes}");
        string key;
        try { key = StrictUtf8.GetString(p.Slice(7, keyBytes)); }
        catch (DecoderFallbackException) { throw Damaged(path, at, "has an id that is not UTF-8"); }
        float[]? vector = null;
        if (kind == ShardLogKind.Upsert)
        {
            vector = MemoryMarshal.Cast<byte, float>(p.Slice(7 + keyBytes, vectorBytes)).ToArray();
            if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("shard logs are little-endian");
            foreach (float v in vector) if (!float.IsFinite(v)) throw Damaged(path, at, "holds a vector value that is not finite");
        }
        return new ShardLogEntry(kind, row, key, vector);
    }

    private static FileFormatException Damaged(string path, long at, string problem) => new(path, $"record at byte {at} {problem}");

    /// <summary>
    /// Refuses what no record may hold: an id of no or more than <see cref="MaxKeyBytes"/> UTF-8 bytes, or a vector
    /// (<paramref name="vector"/>, null for a change without one) of another width or with a value that is not finite.
    /// </summary>
    internal static void Check(string key, float[]? vector, int dimension)
    {
        int bytes = Encoding.UTF8.GetByteCount(key);
        if (bytes is 0 or > MaxKeyBytes) throw new ArgumentException($"item id '{Excerpt.Of(key)}' is {bytes} UTF-8 bytes; ids are 1 to {MaxKeyBytes}");
        if (vector is null) return;
        if (vector.Length != dimension) throw new ArgumentException($"item '{Excerpt.Of(key)}': a vector of {vector.Length} values; this set's items have {dimension}");
        int bad = VectorChecks.FirstNonFinite(vector);
        if (bad >= 0) throw new ArgumentException($"item '{Excerpt.Of(key)}': vector value {bad} is {vector[bad]}, not a finite number");
    }

    /// <summary>The bytes of <paramref name="entries"/> as records.</summary>
    internal static byte[] Encode(IReadOnlyList<ShardLogEntry> entries, int dimension)
    {
        using var m = new MemoryStream();
        Span<byte> head = stackalloc byte[RecordHeaderBytes];
        foreach (var e in entries)
        {
            Check(e.Key, e.Kind == ShardLogKind.Upsert ? e.Vector ?? [] : null, dimension);
            byte[] key = Encoding.UTF8.GetBytes(e.Key);
            int vectorBytes = e.Kind == ShardLogKind.Upsert ? 4 * dimension : 0;
            var p = new byte[7 + key.Length + vectorBytes];
            p[0] = (byte)e.Kind;
            BinaryPrimitives.WriteInt32LittleEndian(p.AsSpan(1), e.Row);
            BinaryPrimitives.WriteUInt16LittleEndian(p.AsSpan(5), (ushort)key.Length);
            key.CopyTo(p, 7);
            if (vectorBytes > 0) MemoryMarshal.AsBytes(e.Vector.AsSpan()).CopyTo(p.AsSpan(7 + key.Length));
            BinaryPrimitives.WriteUInt32LittleEndian(head, (uint)p.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(head[4..], Crc32C.Compute(p));
            m.Write(head);
            m.Write(p);
        }
        return m.ToArray();
    }

    /// <summary>The header of a new log.</summary>
    internal static byte[] Header(int shard, int dimension)
    {
        var h = new byte[HeaderBytes];
        Magic.CopyTo(h);
        BinaryPrimitives.WriteInt32LittleEndian(h.AsSpan(8), shard);
        BinaryPrimitives.WriteInt32LittleEndian(h.AsSpan(12), dimension);
        return h;
    }

    /// <summary>Appends <paramref name="entries"/> to the complete log at <paramref name="path"/> and flushes them to disk.</summary>
    internal static void Append(string path, IReadOnlyList<ShardLogEntry> entries, int dimension)
    {
        using var file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
        file.Write(Encode(entries, dimension));
        file.Flush(flushToDisk: true);
    }

    /// <summary>Writes a whole log (header and <paramref name="entries"/>) to <paramref name="path"/> in one step.</summary>
    public static void WriteAll(string path, int shard, int dimension, IReadOnlyList<ShardLogEntry> entries) =>
        AtomicFile.Write(path, s =>
        {
            s.Write(Header(shard, dimension));
            s.Write(Encode(entries, dimension));
        });
}
