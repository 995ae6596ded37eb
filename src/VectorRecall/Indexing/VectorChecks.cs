namespace VectorRecall.Indexing;

/// <summary>The argument checks every index makes, with messages that say what was wrong.</summary>
internal static class VectorChecks
{
    public static void Query(ReadOnlySpan<float> query, int dimension, int k)
    {
        if (query.Length != dimension) throw new ArgumentException($"query has dimension {query.Length}, the index has {dimension}");
        if (k <= 0) throw new ArgumentOutOfRangeException(nameof(k), $"k must be positive, got {k}");
        int bad = FirstNonFinite(query);
        if (bad >= 0) throw new ArgumentException($"query value {bad} is {query[bad]}: vectors must be finite");
    }

    public static int BatchCount(ReadOnlySpan<float> queries, int dimension, int k, int idsLength, int scoresLength, int countsLength)
    {
        if (k <= 0) throw new ArgumentOutOfRangeException(nameof(k), $"k must be positive, got {k}");
        if (queries.Length % dimension != 0) throw new ArgumentException($"{queries.Length} query values are not a whole number of {dimension}-d vectors");
        int n = queries.Length / dimension;
        if (idsLength < (long)n * k || scoresLength < (long)n * k || countsLength < n)
            throw new ArgumentException($"result buffers are too small for {n} queries × k = {k}");
        int bad = FirstNonFinite(queries);
        if (bad >= 0) throw new ArgumentException($"query {bad / dimension} value {bad % dimension} is {queries[bad]}: vectors must be finite");
        return n;
    }

    public static void Options(IReadOnlyList<SearchOptions?>? options, int queries)
    {
        if (options is not null && options.Count != queries) throw new ArgumentException($"{options.Count} search options given for {queries} queries (one per query, or none)");
        if (options is not null)
            foreach (var o in options)
                if (o is { Ef: < 0 }) throw new ArgumentOutOfRangeException(nameof(options), $"ef must be positive (0: the index's default), got {o.Ef}");
    }

    public static int AddCount(ReadOnlySpan<long> ids, ReadOnlySpan<float> vectors, int dimension)
    {
        if (vectors.Length != (long)ids.Length * dimension)
            throw new ArgumentException($"{ids.Length} ids need {(long)ids.Length * dimension} values of dimension {dimension}, got {vectors.Length}");
        int bad = FirstNonFinite(vectors);
        if (bad >= 0) throw new ArgumentException($"vector {bad / dimension} (id {ids[bad / dimension]}) value {bad % dimension} is {vectors[bad]}: vectors must be finite");
        var seen = new HashSet<long>();
        foreach (long id in ids) if (!seen.Add(id)) throw new ArgumentException($"id {id} appears twice in one Add");
        return ids.Length;
    }

    /// <summary>Scales <paramref name="v"/> to unit length in place (cosine); an all-zero vector stays zero.</summary>
    public static void Normalize(Span<float> v)
    {
        float norm = TensorPrimitives.Norm(v);
        if (norm > 0) TensorPrimitives.Divide(v, norm, v);
    }

    /// <summary>The index of the first NaN or infinity in <paramref name="values"/>, or -1.</summary>
    public static int FirstNonFinite(ReadOnlySpan<float> values)
    {
        if (AllFinite(values)) return -1;
        for (int i = 0; i < values.Length; i++) if (!float.IsFinite(values[i])) return i;
        return -1;
    }

    // NaN and ±∞ make x − x non-zero (NaN), so one vectorised pass tells whether any is present.
    private static bool AllFinite(ReadOnlySpan<float> values)
    {
        const int chunk = 4096;
        Span<float> scratch = stackalloc float[chunk];
        for (int i = 0; i < values.Length; i += chunk)
        {
            var part = values.Slice(i, Math.Min(chunk, values.Length - i));
            var s = scratch[..part.Length];
            TensorPrimitives.Subtract(part, part, s);
            if (TensorPrimitives.SumOfMagnitudes(s) is not 0f) return false;
        }
        return true;
    }
}
