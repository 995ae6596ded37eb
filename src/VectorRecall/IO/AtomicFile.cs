namespace VectorRecall.IO;

/// <summary>
/// Writes a file under a temporary name beside it and renames it into place only once it is
/// complete and flushed, so a crash, an exception or Ctrl-C never leaves a half-written file
/// where a reader would find it. What a killed writer left beside the target is removed by the
/// next writer of the same target.
/// </summary>
internal static class AtomicFile
{
    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        string? dir = Path.GetDirectoryName(full);
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        RemoveStale(full);
        string temp = TemporaryName(full);
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>Where a writer of <paramref name="target"/> stages its output: beside it, named by the writing process.</summary>
    public static string TemporaryName(string target) => $"{target}{TempMarker}{Environment.ProcessId}-{Guid.NewGuid():N}";

    /// <summary>Where a folder that is being replaced waits, between the swap and its deletion.</summary>
    public static string RetiredName(string target) => $"{target}{OldMarker}{Environment.ProcessId}-{Guid.NewGuid():N}";

    private const string TempMarker = ".tmp-", OldMarker = ".old-";

    /// <summary>
    /// Removes what writers of <paramref name="target"/> left when they were killed: temporaries of
    /// processes that are no longer running, and retired folders (nobody reads those: they were
    /// renamed away from the target before their deletion began). A temporary of a live process is
    /// another writer at work and is left alone.
    /// </summary>
    public static void RemoveStale(string target)
    {
        string? dir = Path.GetDirectoryName(target);
        string name = Path.GetFileName(target);
        if (string.IsNullOrEmpty(dir) || name.Length == 0 || !Directory.Exists(dir)) return;
        IEnumerable<string> entries;
        try { entries = Directory.EnumerateFileSystemEntries(dir, name + ".*-*").ToList(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return; }
        foreach (string entry in entries)
        {
            string suffix = Path.GetFileName(entry)[name.Length..];
            bool retired = suffix.StartsWith(OldMarker, StringComparison.Ordinal) && TryWriterOf(suffix[OldMarker.Length..], out _);
            bool orphan = suffix.StartsWith(TempMarker, StringComparison.Ordinal) && TryWriterOf(suffix[TempMarker.Length..], out int pid) && pid > 0 && HasEnded(pid);
            if (!retired && !orphan) continue;
            try
            {
                if (Directory.Exists(entry)) Directory.Delete(entry, recursive: true);
                else File.Delete(entry);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }  // another cleaner got there first, or not ours to remove
        }
    }

    /// <summary>
    /// The writing process of a suffix exactly as <see cref="TemporaryName"/> and <see cref="RetiredName"/>
    /// write it (<c>PID-GUID</c>; retired folders of older versions carry no PID, given as 0); false for
    /// anything else, so a user's own <c>data.old-backup</c> is never touched.
    /// </summary>
    private static bool TryWriterOf(string pidAndGuid, out int pid)
    {
        pid = 0;
        int dash = pidAndGuid.IndexOf('-');
        string guid = pidAndGuid[(dash + 1)..];
        if (guid.Length != 32 || !guid.All(char.IsAsciiHexDigitLower)) return false;
        return dash < 0 || int.TryParse(pidAndGuid.AsSpan(0, dash), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out pid);
    }

    /// <summary>Whether a writing process has ended (this process's own writers are still at work).</summary>
    private static bool HasEnded(int pid)
    {
        if (pid == Environment.ProcessId) return false;
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return process.HasExited;
        }
        catch (ArgumentException) { return true; }  // no such process
        catch (InvalidOperationException) { return true; }
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>A file that cannot be read as what it claims to be; the message names the file and the problem.</summary>
public sealed class FileFormatException(string path, string problem)
    : IOException($"{path}: {problem}")
{
    public string FilePath { get; } = path;
    public string Problem { get; } = problem;
}
