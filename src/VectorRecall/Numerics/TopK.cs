namespace VectorRecall.Numerics;

/// <summary>
/// Keeps the k best (id, score) pairs seen so far, in caller-provided buffers so that a search
/// allocates nothing. Higher scores are better; equal scores are broken by the lower id, so the
/// result is the same whatever order the candidates arrive in. NaN scores are never kept.
/// The buffers form a binary heap with the worst kept pair at the root.
/// </summary>
public ref struct TopK
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

    /// <summary>The score a candidate must beat once the heap is full (−∞ before).</summary>
    public readonly float Threshold => IsFull && _count > 0 ? _scores[0] : float.NegativeInfinity;

    /// <summary>Offers one candidate; returns whether it was kept.</summary>
    public bool Push(long id, float score)
    {
        if (float.IsNaN(score) || _ids.Length == 0) return false;
        if (_count < _ids.Length)
        {
            int i = _count++;
            _ids[i] = id; _scores[i] = score;
            SiftUp(i);
            return true;
        }
        if (!Better(score, id, _scores[0], _ids[0])) return false;
        _ids[0] = id; _scores[0] = score;
        SiftDown(0);
        return true;
    }

    /// <summary>Sorts the kept pairs best first in place (the heap is consumed) and returns their count.</summary>
    public int SortBestFirst()
    {
        int n = _count;
        // Heap sort: repeatedly move the worst to the end of the shrinking heap.
        for (int end = n - 1; end > 0; end--)
        {
            (_ids[0], _ids[end]) = (_ids[end], _ids[0]);
            (_scores[0], _scores[end]) = (_scores[end], _scores[0]);
            _count = end;
            SiftDown(0);
        }
        _count = 0;
        return n;
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

    private static bool Better(float s1, long id1, float s2, long id2) => s1 > s2 || (s1 == s2 && id1 < id2);

    private readonly void SiftUp(int i)
    {
        while (i > 0)
        {
            int parent = (i - 1) >> 1;
            // The root holds the worst: a child worse than its parent moves up.
            if (!Better(_scores[parent], _ids[parent], _scores[i], _ids[i])) break;
            Swap(i, parent);
            i = parent;
        }
    }

    private readonly void SiftDown(int i)
    {
        int n = _count;
        while (true)
        {
            int left = 2 * i + 1;
            if (left >= n) return;
            int worst = left, right = left + 1;
            if (right < n && Better(_scores[left], _ids[left], _scores[right], _ids[right])) worst = right;
            if (!Better(_scores[i], _ids[i], _scores[worst], _ids[worst])) return;
            Swap(i, worst);
            i = worst;
        }
    }

    private readonly void Swap(int a, int b)
    {
        (_ids[a], _ids[b]) = (_ids[b], _ids[a]);
        (_scores[a], _scores[b]) = (_scores[b], _scores[a]);
    }
}
