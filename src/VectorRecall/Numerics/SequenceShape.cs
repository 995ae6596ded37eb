namespace VectorRecall.Numerics;

/// <summary>
/// Where a sequence batch's rows come from. Padded (the constructor): <see cref="Batch"/> sequences of <see cref="Length"/>
/// rows each, the first <c>LeftPadding[b]</c> rows of sequence b padding. Packed (<see cref="Packed"/>): sequence b has
/// <c>Lengths[b]</c> rows, the sequences one after another with no padding, so a batch costs its real positions only
/// (on skewed data, such as Beauty's 9 items on average against a window of 50, padding would be most of the work).
/// </summary>
public sealed record SequenceShape(int Batch, int Length, int[]? LeftPadding = null)
{
    private int[]? _starts;

    /// <summary>Rows per sequence of a packed shape (null when padded).</summary>
    public int[]? Lengths { get; private init; }

    /// <summary>Sequences of these lengths (each at least 1), packed one after another.</summary>
    public static SequenceShape Packed(int[] lengths)
    {
        var starts = new int[lengths.Length];
        int rows = 0;
        for (int b = 0; b < lengths.Length; b++)
        {
            if (lengths[b] < 1) throw new ArgumentException($"packed sequence {b} has {lengths[b]} positions; each needs at least one");
            starts[b] = rows;
            rows = checked(rows + lengths[b]);
        }
        return new SequenceShape(lengths.Length, lengths.Length == 0 ? 0 : lengths.Max()) { Lengths = lengths, _starts = starts, Rows = rows };
    }

    /// <summary>Rows of the batch: Batch · Length padded, the sum of the lengths packed.</summary>
    public int Rows { get; private init; } = Batch * Length;

    /// <summary>Sequence b's first row.</summary>
    public int Start(int b) => _starts?[b] ?? b * Length;

    /// <summary>Sequence b's rows, padding included.</summary>
    public int Count(int b) => Lengths?[b] ?? Length;

    /// <summary>Sequence b's leading padding rows (0 when packed).</summary>
    public int Padding(int b) => LeftPadding?[b] ?? 0;
}
