namespace VectorRecall.Numerics;

/// <summary>
/// Keeps the k best (id, score) pairs seen so far, in caller-provided buffers so that a search
/// allocates nothing. Higher scores are better; equal scores are broken by the lower id, so the
/// result is the same whatever order the candidates arrive in. NaN scores are never kept.
/// The buffers form a binary heap with the worst kept pair at the root.
/// </summary>
/// <remarks>
/// The static <see cref="Push(Span{long}, Span{float}, ref int, long, float)"/> and
/// <see cref="SortBestFirst(Span{long}, Span{float}, int)"/> are the same heap for callers that keep
/// many heaps side by side (one per query of a batch) and cannot hold a ref struct for each.
/// </remarks>
internal ref struct TopK
{
    private readonly Span<long> _ids;
    private readonly Span<float> _scores;
    private int _count;

    /// <summary>A heap of capacity <paramref name="k"/> over <paramref name="ids"/> and <paramref name="scores"/> (each at least k long).</summary>
    public TopK(int k, Span<long> ids, Span<float> scores)
    {
        if (k < 0) throw new ArgumentOutOfRangeException(nameof(k), "k must not be negative");
        if (ids.Length < k || scores.Length < k)
            throw new ArgumentException($"buffers hold {Math.Min(ids.Length, scores.Length)} entries, k is {k}");
        _ids = ids[..k];
        _scores = scores[..k];
        _count = 0;
    }

    public readonly int Count => _count;
    public readonly int K => _ids.Length;
    public readonly bool IsFull => _count == _ids.Length;

    /// <summary>The score a candidate must reach once the heap is full (−∞ before).</summary>
    public readonly float Threshold => ThresholdOf(_scores, _count);

    /// <summary>Offers one candidate; returns whether it was kept.</summary>
    public bool Push(long id, float score) => Push(_ids, _scores, ref _count, id, score);

    /// <summary>Sorts the kept pairs best first in place (the heap is consumed) and returns their count.</summary>
    public int SortBestFirst()
    {
        int n = SortBestFirst(_ids, _scores, _count);
        _count = 0;
        return n;
    }

    /// <summary>The score a candidate must reach to enter a heap of <c>scores.Length</c> holding <paramref name="count"/> pairs.</summary>
    public static float ThresholdOf(ReadOnlySpan<float> scores, int count) =>
        count == scores.Length && count > 0 ? scores[0] : float.NegativeInfinity;

    /// <summary>Offers one candidate to the heap held in <paramref name="ids"/>/<paramref name="scores"/> (capacity = their length).</summary>
    public static bool Push(Span<long> ids, Span<float> scores, ref int count, long id, float score)
    {
        if (float.IsNaN(score) || ids.Length == 0) return false;
        if (count < ids.Length)
        {
            int i = count++;
            ids[i] = id; scores[i] = score;
            SiftUp(ids, scores, i);
            return true;
        }
        if (!Better(score, id, scores[0], ids[0])) return false;
        ids[0] = id; scores[0] = score;
        SiftDown(ids, scores, 0, count);
        return true;
    }

    /// <summary>Heap-sorts the first <paramref name="count"/> pairs best first; returns the count.</summary>
    public static int SortBestFirst(Span<long> ids, Span<float> scores, int count)
    {
        // Repeatedly move the worst to the end of the shrinking heap.
        for (int end = count - 1; end > 0; end--)
        {
            (ids[0], ids[end]) = (ids[end], ids[0]);
            (scores[0], scores[end]) = (scores[end], scores[0]);
            SiftDown(ids, scores, 0, end);
        }
        return count;
    }

    /// <summary>The k best of <paramref name="scores"/> (ids are positions), best first; returns how many were written.</summary>
    public static int Select(ReadOnlySpan<float> scores, int k, Span<long> ids, Span<float> topScores)
    {
        k = Math.Min(k, scores.Length);
        var heap = new TopK(k, ids, topScores);
        for (int i = 0; i < scores.Length; i++)
        {
            float s = scores[i];
            if (s < heap.Threshold) continue;
            heap.Push(i, s);
        }
        return heap.SortBestFirst();
    }

    /// <summary>Full sort, for tests: the k best positions of <paramref name="scores"/>, best first.</summary>
    public static (long Id, float Score)[] SelectReference(ReadOnlySpan<float> scores, int k)
    {
        var all = new List<(long Id, float Score)>();
        for (int i = 0; i < scores.Length; i++) if (!float.IsNaN(scores[i])) all.Add((i, scores[i]));
        all.Sort((x, y) => y.Score != x.Score ? y.Score.CompareTo(x.Score) : x.Id.CompareTo(y.Id));
        return all.Take(k).ToArray();
    }

    /// <summary>The one order of results: the higher score, then the lower id (what lists merged from several searches keep too).</summary>
    internal static bool Better(float s1, long id1, float s2, long id2) => s1 > s2 || (s1 == s2 && id1 < id2);

    private static void SiftUp(Span<long> ids, Span<float> scores, int i)
    {
        while (i > 0)
        {
            int parent = (i - 1) >> 1;
            // The root holds the worst: a child worse than its parent moves up.
            if (!Better(scores[parent], ids[parent], scores[i], ids[i])) break;
            Swap(ids, scores, i, parent);
            i = parent;
        }
    }

    private static void SiftDown(Span<long> ids, Span<float> scores, int i, int count)
    {
        while (true)
        {
            int left = 2 * i + 1;
            if (left >= count) return;
            int worst = left, right = left + 1;
            if (right < count && Better(scores[left], ids[left], scores[right], ids[right])) worst = right;
            if (!Better(scores[i], ids[i], scores[worst], ids[worst])) return;
            Swap(ids, scores, i, worst);
            i = worst;
        }
    }

    private static void Swap(Span<long> ids, Span<float> scores, int a, int b)
    {
        (ids[a], ids[b]) = (ids[b], ids[a]);
        (scores[a], scores[b]) = (scores[b], scores[a]);
    }
}
