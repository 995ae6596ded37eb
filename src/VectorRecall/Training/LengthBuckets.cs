using VectorRecall.Numerics;

namespace VectorRecall.Training;

/// <summary>
/// Batches of examples of similar length, for models whose batch costs by its longest example (a sequence
/// batch is padded to its longest window; on data whose lengths are skewed, such as Beauty's 9 items on
/// average with most random batches holding someone with 50, padding is most of the work). Each run of
/// <see cref="Window"/> batches of the shuffle is sorted by length and cut into batches, and then the
/// batches are shuffled, so a batch still comes from anywhere in the epoch; a last, partial batch stays last.
/// </summary>
internal static class LengthBuckets
{
    /// <summary>How many batches' worth of shuffled examples are sorted together.</summary>
    public const int Window = 32;

    /// <summary>Reorders <paramref name="order"/> (shuffled example indices) in place; <paramref name="lengthOf"/> gives an example's length.</summary>
    public static void Arrange(int[] order, Func<int, int> lengthOf, int batch, Rng rng)
    {
        int full = order.Length / batch * batch;
        var lengths = new int[full];
        for (int start = 0; start < full; start += Window * batch)
        {
            int count = Math.Min(Window * batch, full - start);
            for (int i = start; i < start + count; i++) lengths[i] = lengthOf(order[i]);
            Array.Sort(lengths, order, start, count);
        }
        var batches = new int[full / batch];
        for (int b = 0; b < batches.Length; b++) batches[b] = b;
        rng.Shuffle(batches.AsSpan());
        var arranged = new int[full];
        for (int b = 0; b < batches.Length; b++) Array.Copy(order, batches[b] * batch, arranged, b * batch, batch);
        arranged.CopyTo(order, 0);
    }
}
