using System.Runtime.InteropServices;

namespace VectorRecall.Indexing;

/// <summary>
/// Hands freed native memory back to the system. glibc keeps what an index's segments freed in
/// per-thread arenas; a server that reloads its index many times on pool threads would otherwise
/// hold one dead index per arena (measured: RSS 300 MB → 1.1 GB over 30 reloads of a 100k-item bundle).
/// </summary>
internal static partial class NativeHeap
{
    private static bool _unavailable = !OperatingSystem.IsLinux();

    /// <summary>Returns free heap pages to the system where the C library can (glibc); elsewhere does nothing.</summary>
    public static void Trim()
    {
        if (_unavailable) return;
        try { MallocTrim(0); }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException) { _unavailable = true; }  // musl and others
    }

    private const nuint HugePage = 2 << 20;
    private const int MadviseHugePage = 14;   // MADV_HUGEPAGE
    private const int ProtReadWrite = 3, MapPrivateAnonymous = 0x22;   // PROT_READ | PROT_WRITE; MAP_PRIVATE | MAP_ANONYMOUS
    private static bool _noAdvice = !OperatingSystem.IsLinux();

    /// <summary>Whether a segment of <paramref name="bytes"/> is mapped from the kernel (Linux, 2 MiB and up) rather than taken from the C heap.</summary>
    private static bool Mapped(nuint bytes) => bytes >= HugePage && OperatingSystem.IsLinux();

    /// <summary>
    /// Zeroed memory for a graph segment, asking Linux to back it with 2 MiB pages. A walk touches a few cache lines on each
    /// of thousands of random pages; with 4 KiB pages nearly every one misses the TLB. Where transparent huge pages are
    /// "madvise" (Debian's and Ubuntu's default) nothing else gets them; elsewhere the advice is ignored. On Linux a segment
    /// is mapped straight from the kernel, whose pages are zero and resident only once written: the last segment's unused
    /// slots (up to 16,383 records) then cost no memory, where clearing a heap block made all of it resident (on 100k × 128
    /// SQ8 that was 5 MB, about 50 bytes per vector). Free with <see cref="Free"/>, giving the same size.
    /// </summary>
    public static unsafe byte* AllocateSegment(nuint bytes)
    {
        if (Mapped(bytes)) return MapAligned(bytes);
        var memory = (byte*)NativeMemory.AlignedAlloc(bytes, 64);
        NativeMemory.Clear(memory, bytes);
        return memory;
    }

    public static unsafe void Free(byte* segment, nuint bytes)
    {
        if (Mapped(bytes)) Munmap(segment, PageRound(bytes));
        else NativeMemory.AlignedFree(segment);
    }

    private static nuint PageRound(nuint bytes) => (bytes + 4095) & ~(nuint)4095;

    /// <summary>An anonymous mapping of <paramref name="bytes"/> starting on a 2 MiB boundary (the slack either side handed back), advised onto huge pages.</summary>
    private static unsafe byte* MapAligned(nuint bytes)
    {
        nuint length = PageRound(bytes);
        var raw = (byte*)Mmap(null, length + HugePage, ProtReadWrite, MapPrivateAnonymous, -1, 0);
        if (raw == (byte*)-1) throw new OutOfMemoryException($"could not map {length + HugePage:N0} bytes for an index segment (errno {Marshal.GetLastPInvokeError()})");
        var aligned = (byte*)(((nuint)raw + HugePage - 1) & ~(HugePage - 1));
        if (aligned > raw) Munmap(raw, (nuint)(aligned - raw));
        nuint tail = (nuint)(raw + length + HugePage - (aligned + length));
        if (tail > 0) Munmap(aligned + length, tail);
        if (!_noAdvice)
        {
            try { Madvise(aligned, bytes / HugePage * HugePage, MadviseHugePage); }
            catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException) { _noAdvice = true; }
        }
        return aligned;
    }

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static unsafe partial void* Mmap(void* address, nuint length, int protection, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "munmap")]
    private static unsafe partial int Munmap(void* address, nuint length);

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static unsafe partial int Madvise(void* address, nuint length, int advice);
}
