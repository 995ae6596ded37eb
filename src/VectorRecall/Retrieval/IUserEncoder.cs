using VectorRecall.Numerics;

namespace VectorRecall.Retrieval;

/// <summary>
/// Who to recall for. <paramref name="Features"/> (empty = the stored profile) and
/// <paramref name="History"/> (item ids 0 .. items − 1, oldest first; null = the stored history) replace what the
/// encoder holds for the user; a user the encoder does not know needs its features when the model has any.
/// </summary>
public readonly record struct UserQuery(long UserId, ReadOnlyMemory<float> Features = default, int[]? History = null);

/// <summary>
/// The encoding half of recall: user vectors for a batch of queries, from the stored profile and
/// history of known users (rows 0 .. <see cref="UserCount"/> − 1) or what the query gives. Safe for
/// concurrent calls. Every paradigm's user tower implements it; an <see cref="IRetriever"/> searches its output.
/// </summary>
public interface IUserEncoder
{
    int UserCount { get; }
    /// <summary>Profile features per user (0: the model takes none).</summary>
    int FeatureCount { get; }
    /// <summary>Width of the vectors it makes.</summary>
    int Dimension { get; }

    /// <summary>
    /// One row per query ([queries × <see cref="Dimension"/>]). Throws <see cref="ArgumentException"/> for a
    /// query it cannot encode, <see cref="UserVectorException"/> when the model gives no usable vector.
    /// </summary>
    Tensor Encode(ReadOnlySpan<UserQuery> queries);

    /// <summary>
    /// The same rows written into <paramref name="destination"/> (queries × <see cref="Dimension"/> floats, row-major):
    /// for callers that keep their own buffers. Encoders with a forward-only path allocate nothing here once warm.
    /// </summary>
    void Encode(ReadOnlySpan<UserQuery> queries, Span<float> destination) => Encode(queries).Span.CopyTo(destination);
}

/// <summary>The check every encoder ends with: a row that is NaN, infinite or all zero is no direction to search in.</summary>
internal static class UserVectors
{
    /// <summary>Throws <see cref="UserVectorException"/> (naming <paramref name="field"/>) for the first unusable row; <paramref name="why"/> says what likely caused it.</summary>
    public static Tensor CheckUsable(Tensor vectors, ReadOnlySpan<UserQuery> queries, string model, string why, string field)
    {
        CheckUsable(vectors.Span, vectors.Cols, queries, model, why, field);
        return vectors;
    }

    /// <summary>As above, on rows of <paramref name="dimension"/> floats.</summary>
    public static void CheckUsable(ReadOnlySpan<float> vectors, int dimension, ReadOnlySpan<UserQuery> queries, string model, string why, string field)
    {
        for (int r = 0; r < queries.Length; r++)
        {
            var row = vectors.Slice(r * dimension, dimension);
            float squared = TensorPrimitives.Dot(row, row);
            if (!float.IsFinite(squared) || squared == 0f)
                throw new UserVectorException(r, $"user {queries[r].UserId}: the {model}'s output is {(float.IsFinite(squared) ? "all zero" : "not finite")}; {why}", field);
        }
    }
}

/// <summary>
/// A user the encoder cannot place: its features or history give no usable vector, or there is nothing
/// to encode. <see cref="Row"/> is the query's position in its batch, <see cref="Field"/> the query field at fault.
/// </summary>
public sealed class UserVectorException(int row, string message, string field = "features") : ArgumentException(message)
{
    public int Row { get; } = row;
    public string Field { get; } = field;
}
