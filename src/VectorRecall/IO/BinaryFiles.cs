namespace VectorRecall.IO;

/// <summary>Reading helpers shared by the file formats, with errors that name the file.</summary>
internal static class BinaryFiles
{
    internal static FileStream OpenRead(string path)
    {
        try { return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16); }
        catch (FileNotFoundException) { throw new FileNotFoundException($"{path}: file not found", path); }
        catch (DirectoryNotFoundException) { throw new FileNotFoundException($"{path}: file not found", path); }
    }

    internal static void ReadExactly(Stream stream, Span<byte> buffer, string name, string what)
    {
        int read = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        if (read < buffer.Length) throw new FileFormatException(name, $"truncated while reading {what}: needed {buffer.Length} bytes, got {read}");
    }
}
