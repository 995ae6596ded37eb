using System.Buffers.Binary;
using System.Text;

namespace VectorRecall.IO;

/// <summary>
/// The container every index file uses: a header (magic "VRIX", format version, index kind,
/// metric, dimension, count and named integer parameters), then tagged sections of known length,
/// then a CRC-32C of everything before it and the end marker "XIRV". Readers check each part as
/// they go and the checksum at the end, so a truncated, corrupted or foreign file is refused with
/// a message naming the file and what is wrong.
/// </summary>
internal static class IndexFile
{
    public const int Version = 1;
    /// <summary>The largest vector dimension a file may declare: far above any embedding, far below what would exhaust memory.</summary>
    public const int MaxDimension = 1 << 16;
    private static ReadOnlySpan<byte> Magic => "VRIX"u8;
    private static ReadOnlySpan<byte> EndMagic => "XIRV"u8;

    public sealed record Header(string Kind, int Metric, int Dimension, long Count, IReadOnlyDictionary<string, long> Parameters)
    {
        public long Parameter(string name, string path) =>
            Parameters.TryGetValue(name, out long v) ? v : throw new FileFormatException(path, $"parameter '{name}' is missing from the header");
    }

    /// <summary>Writes sections after a header; <see cref="Finish"/> appends the checksum. Use inside <see cref="AtomicFile.Write"/>.</summary>
    public sealed class Writer
    {
        private readonly Stream _stream;
        private Crc32C _crc = new();
        private long _sectionLeft;

        public Writer(Stream stream, Header header)
        {
            _stream = stream;
            Write(Magic);
            WriteInt32(Version);
            WriteString(header.Kind);
            WriteInt32(header.Metric);
            WriteInt32(header.Dimension);
            WriteInt64(header.Count);
            WriteInt32(header.Parameters.Count);
            foreach (var (name, value) in header.Parameters) { WriteString(name); WriteInt64(value); }
        }

        /// <summary>Starts a section of exactly <paramref name="length"/> bytes, written with <see cref="Write"/>.</summary>
        public void BeginSection(string tag, long length)
        {
            if (_sectionLeft != 0) throw new InvalidOperationException($"the previous section is {_sectionLeft} bytes short");
            WriteString(tag);
            WriteInt64(length);
            _sectionLeft = length;
        }

        public void Write(ReadOnlySpan<byte> data)
        {
            _crc.Append(data);
            _stream.Write(data);
            _sectionLeft -= Math.Min(_sectionLeft, data.Length);
        }

        public void Section(string tag, ReadOnlySpan<byte> data)
        {
            BeginSection(tag, data.Length);
            Write(data);
        }

        public void Finish()
        {
            if (_sectionLeft != 0) throw new InvalidOperationException($"the last section is {_sectionLeft} bytes short");
            Span<byte> tail = stackalloc byte[8];
            BinaryPrimitives.WriteUInt32LittleEndian(tail, _crc.Value);
            EndMagic.CopyTo(tail[4..]);
            _stream.Write(tail);
        }

        private void WriteInt32(int v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteInt32LittleEndian(b, v); Write(b); }
        private void WriteInt64(long v) { Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteInt64LittleEndian(b, v); Write(b); }
        private void WriteString(string s)
        {
            var bytes = Encoding.UTF8.GetBytes(s);
            WriteInt32(bytes.Length);
            Write(bytes);
        }
    }

    /// <summary>The kind of index a file holds, read from its header.</summary>
    public static string ReadKind(string path)
    {
        using var stream = BinaryFiles.OpenRead(path);
        Span<byte> head = stackalloc byte[12];
        BinaryFiles.ReadExactly(stream, head, path, "the header");
        if (!head[..4].SequenceEqual(Magic)) throw new FileFormatException(path, "not a VectorRecall index file (magic number VRIX missing)");
        int len = BinaryPrimitives.ReadInt32LittleEndian(head[8..]);
        if (len is < 0 or > 256) throw new FileFormatException(path, $"corrupted header: index kind claims {len} bytes");
        var kind = new byte[len];
        BinaryFiles.ReadExactly(stream, kind, path, "the index kind");
        return Encoding.UTF8.GetString(kind);
    }

    /// <summary>Reads a file written by <see cref="Writer"/>, section by section, in order.</summary>
    public sealed class Reader : IDisposable
    {
        private readonly Stream _stream;
        private Crc32C _crc = new();
        private long _sectionLeft;

        public Reader(string path, string expectedKind)
        {
            Path = path;
            _stream = BinaryFiles.OpenRead(path);
            try
            {
                Span<byte> magic = stackalloc byte[4];
                Read(magic, "the magic number");
                if (!magic.SequenceEqual(Magic)) throw new FileFormatException(path, "not a VectorRecall index file (magic number VRIX missing)");
                int version = ReadInt32("the version");
                if (version != Version) throw new FileFormatException(path, $"index format version {version} is not supported (this build reads version {Version})");
                string kind = ReadString("the index kind");
                if (kind != expectedKind) throw new FileFormatException(path, $"holds a {kind} index, expected {expectedKind}");
                int metric = ReadInt32("the metric");
                int dim = ReadInt32("the dimension");
                long count = ReadInt64("the count");
                if (dim <= 0 || dim > MaxDimension || count < 0) throw new FileFormatException(path, $"header gives dimension {dim} and count {count} (dimension must lie in [1, {MaxDimension}])");
                int n = ReadInt32("the parameter count");
                if (n is < 0 or > 1000) throw new FileFormatException(path, $"header claims {n} parameters");
                var parameters = new Dictionary<string, long>(StringComparer.Ordinal);
                for (int i = 0; i < n; i++) parameters[ReadString("a parameter name")] = ReadInt64("a parameter value");
                Header = new Header(kind, metric, dim, count, parameters);
            }
            catch
            {
                _stream.Dispose();
                throw;
            }
        }

        public string Path { get; }
        public Header Header { get; }

        /// <summary>
        /// Checks that the file still holds at least <paramref name="bytes"/> (what the header implies is
        /// coming), so that a reader allocates only after the file has shown it can fill the allocation.
        /// </summary>
        public void EnsureAvailable(long bytes, string what)
        {
            long left = _stream.Length - _stream.Position;
            if (bytes < 0 || bytes > left) throw new FileFormatException(Path, $"truncated or corrupted: the header implies {(bytes < 0 ? "more than 2^63" : bytes.ToString(System.Globalization.CultureInfo.InvariantCulture))} bytes of {what}, the file has {left} left");
        }

        /// <summary>Opens the next section, which must carry <paramref name="tag"/> and <paramref name="length"/> bytes.</summary>
        public void BeginSection(string tag, long length)
        {
            if (_sectionLeft != 0) throw new InvalidOperationException("the previous section was not read to its end");
            string found = ReadString($"the tag of section '{tag}'");
            if (found != tag) throw new FileFormatException(Path, $"expected section '{tag}', found '{found}'");
            long size = ReadInt64($"the length of section '{tag}'");
            if (size != length) throw new FileFormatException(Path, $"section '{tag}' holds {size} bytes, the header implies {length}");
            EnsureAvailable(size + 8, $"section '{tag}' and the checksum");
            _sectionLeft = size;
        }

        /// <summary>Reads the next bytes of the open section.</summary>
        public void Read(Span<byte> destination)
        {
            if (destination.Length > _sectionLeft) throw new InvalidOperationException("read past the end of the section");
            Read(destination, "section data");
            _sectionLeft -= destination.Length;
        }

        public void Section(string tag, Span<byte> destination)
        {
            BeginSection(tag, destination.Length);
            Read(destination);
        }

        /// <summary>Checks the checksum and that nothing follows it.</summary>
        public void Finish()
        {
            if (_sectionLeft != 0) throw new InvalidOperationException("the last section was not read to its end");
            uint expected = _crc.Value;
            Span<byte> tail = stackalloc byte[8];
            BinaryFiles.ReadExactly(_stream, tail, Path, "the checksum");
            if (!tail[4..].SequenceEqual(EndMagic)) throw new FileFormatException(Path, "end marker missing: the file is corrupted");
            uint stored = BinaryPrimitives.ReadUInt32LittleEndian(tail);
            if (stored != expected) throw new FileFormatException(Path, $"checksum mismatch (stored {stored:x8}, computed {expected:x8}): the file is corrupted");
            if (_stream.Position != _stream.Length) throw new FileFormatException(Path, $"{_stream.Length - _stream.Position} trailing bytes after the end marker");
        }

        public void Dispose() => _stream.Dispose();

        private void Read(Span<byte> buffer, string what)
        {
            BinaryFiles.ReadExactly(_stream, buffer, Path, what);
            _crc.Append(buffer);
        }

        private int ReadInt32(string what) { Span<byte> b = stackalloc byte[4]; Read(b, what); return BinaryPrimitives.ReadInt32LittleEndian(b); }
        private long ReadInt64(string what) { Span<byte> b = stackalloc byte[8]; Read(b, what); return BinaryPrimitives.ReadInt64LittleEndian(b); }
        private string ReadString(string what)
        {
            int len = ReadInt32(what);
            if (len is < 0 or > 256) throw new FileFormatException(Path, $"corrupted header: {what} claims {len} bytes");
            var bytes = new byte[len];
            Read(bytes, what);
            return Encoding.UTF8.GetString(bytes);
        }
    }
}
