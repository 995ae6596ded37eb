using System.Runtime.Intrinsics.X86;

namespace VectorRecall.Numerics;

/// <summary>Software prefetch for access patterns the hardware prefetcher cannot guess (rows picked by index).</summary>
internal static unsafe class Prefetch
{
    /// <summary>
    /// How many rows ahead a loop over rows taken by index asks for: enough to cover a miss to memory per row of
    /// 32–256 floats (embedding gathers and scatters, the optimiser's touched rows).
    /// </summary>
    public const int RowsAhead = 8;

    /// <summary>Asks the CPU to start loading every cache line of <paramref name="values"/>; a hint only, and nothing where SSE is absent.</summary>
    public static void Lines(ReadOnlySpan<float> values)
    {
        if (!Sse.IsSupported) return;
        fixed (float* p = values)
            for (int i = 0; i < values.Length; i += 16) Sse.Prefetch0(p + i);
    }
}
