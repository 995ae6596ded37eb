using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace VectorRecall.IO;

/// <summary>
/// Opens a file named by a folder's own listing (a bundle manifest) so that the listing cannot reach
/// outside the folder: the name must be a plain file name (no separators, no <c>..</c>, not rooted),
/// a symbolic link must resolve inside the folder, and the file must be a regular file — a FIFO or a
/// device is refused instead of blocking the reader forever.
/// </summary>
internal static partial class ContainedFile
{
    /// <summary>The full path of <paramref name="name"/> inside <paramref name="folder"/>, or an error naming the listing and the name.</summary>
    public static string Resolve(string folder, string name, string listing)
    {
        if (name.Length == 0 || name is "." or ".." || name.IndexOfAny(['/', '\\', '\0']) >= 0 || Path.IsPathRooted(name))
            throw new FileFormatException(listing, $"lists '{Excerpt.Of(name)}', which is not a plain file name inside the bundle folder");
        string root = Path.GetFullPath(folder);
        string path = Path.Combine(root, name);
        var info = new FileInfo(path);
        if (info.LinkTarget is not null)
        {
            var target = info.ResolveLinkTarget(returnFinalTarget: true);
            string? resolved = target is null ? null : Path.GetFullPath(target.FullName);
            string realRoot = RealPath(root);
            if (resolved is null || !resolved.StartsWith(realRoot + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                throw new FileFormatException(listing, $"lists '{name}', a link that leads outside the bundle folder");
        }
        return path;
    }

    /// <summary>Opens a regular file for reading without blocking on a FIFO; anything else is a <see cref="FileFormatException"/>.</summary>
    public static FileStream OpenRegular(string path)
    {
        if (Directory.Exists(path)) throw new FileFormatException(path, "is a folder, not a file");
        var stream = OpenNonBlocking(path) ?? new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        if (!stream.CanSeek)
        {
            stream.Dispose();
            throw new FileFormatException(path, "is not a regular file (a pipe, socket or device)");
        }
        return stream;
    }

    private static bool _noLibc;

    /// <summary>
    /// Opens with O_NONBLOCK, which makes opening a FIFO return at once instead of waiting for a writer
    /// (it does not change reads of regular files); null where that call is not available.
    /// </summary>
    private static FileStream? OpenNonBlocking(string path)
    {
        if (!OperatingSystem.IsLinux() || _noLibc) return null;
        int fd;
        try { fd = Open(path, ORdOnly | ONonBlock | OCloExec); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            _noLibc = true;
            return null;
        }
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw errno == 2 ? new FileNotFoundException($"{path}: not found", path) : new IOException($"{path}: cannot be opened (errno {errno})");
        }
        return new FileStream(new SafeFileHandle(fd, ownsHandle: true), FileAccess.Read, 1 << 16);
    }

    private static string RealPath(string folder)
    {
        // The folder itself may be reached through a link (a mounted volume's 'current'); compare against where it really is.
        var info = new DirectoryInfo(folder);
        var target = info.LinkTarget is null ? null : info.ResolveLinkTarget(returnFinalTarget: true);
        return Path.GetFullPath(target?.FullName ?? folder).TrimEnd(Path.DirectorySeparatorChar);
    }

    private const int ORdOnly = 0, ONonBlock = 0x800, OCloExec = 0x80000;

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);
}
