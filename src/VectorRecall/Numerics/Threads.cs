namespace VectorRecall.Numerics;

/// <summary>
/// The one thread setting (<c>torch.set_num_threads</c>): every parallel loop of the library — GEMM,
/// element-wise ops, optimiser steps, k-means, index builds and batch searches, beam search — uses
/// at most <see cref="Count"/> threads. Defaults to all cores; the CLI's <c>--threads</c> sets it.
/// </summary>
public static class Threads
{
    private static volatile ParallelOptions _options = new() { MaxDegreeOfParallelism = Environment.ProcessorCount };

    /// <summary>Threads parallel work may use (at least 1).</summary>
    public static int Count
    {
        get => _options.MaxDegreeOfParallelism;
        set
        {
            Settings.Check(value >= 1, nameof(Threads), $"must be at least 1, got {value}");
            _options = new ParallelOptions { MaxDegreeOfParallelism = value };
        }
    }

    /// <summary><see cref="Count"/> as options for <see cref="Parallel.For(int, int, ParallelOptions, Action{int})"/>.</summary>
    public static ParallelOptions Options => _options;

    /// <summary>Below this many elements touched, element-wise work runs on one thread: the fork/join would cost more than it saves.</summary>
    public const long ParallelElements = 1 << 16;

    /// <summary>Chunks for work over <paramref name="elements"/> values in <paramref name="count"/> independent pieces: one below the threshold, else up to <see cref="Count"/>.</summary>
    public static int ChunksFor(long elements, int count) => elements >= ParallelElements ? Math.Max(1, Math.Min(Count, count)) : 1;

    /// <summary><paramref name="requested"/> threads (0: <see cref="Count"/>), never more than <see cref="Count"/>.</summary>
    public static int Resolve(int requested) => requested > 0 ? Math.Min(requested, Count) : Count;
}
