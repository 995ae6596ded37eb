using VectorRecall.Numerics;

namespace VectorRecall.Autograd;

/// <summary>
/// Differentiable operations (the counterpart of <c>torch</c> and <c>torch.nn.functional</c>).
/// Each computes its output eagerly; when a tape is recording and an input requires a gradient,
/// it also leaves the closure that adds the output's gradient into its inputs' gradients.
/// Matrices are [rows × cols]; a bias or per-column vector is rank 1; a loss is a scalar (rank 0).
/// </summary>
internal static partial class Ops
{
    /// <summary>Wraps an op's result; records it on the current tape when any input needs a gradient.</summary>
    private static Variable Output(Tensor value, Variable a, Variable? b = null, Variable? c = null)
    {
        var tape = Tape.Current;
        bool track = tape is { Recording: true } && (a.RequiresGrad || (b?.RequiresGrad ?? false) || (c?.RequiresGrad ?? false));
        var output = new Variable(value, track);
        if (track) tape!.Record(output);
        return output;
    }

    private static Variable OutputOfMany(Tensor value, IReadOnlyList<Variable> inputs)
    {
        var tape = Tape.Current;
        bool track = tape is { Recording: true } && inputs.Any(v => v.RequiresGrad);
        var output = new Variable(value, track);
        if (track) tape!.Record(output);
        return output;
    }

    private static Tensor Like(Tensor t) => New(t.Shape, clear: true);

    /// <summary>A tensor for an op's result: from the tape's pool when it pools (zeroed only if asked), else fresh zeros.</summary>
    private static Tensor New(ReadOnlySpan<int> shape, bool clear) =>
        Tape.Current is { Pooled: true } tape ? tape.Allocate(shape, clear) : new Tensor(shape.ToArray());

    /// <summary>
    /// Runs <paramref name="body"/>(start, end) over [0, count) — rows, or blocks — split across the
    /// cores when the op touches at least <see cref="Threads.ParallelElements"/> elements.
    /// </summary>
    private static void ForChunks(int count, long elements, Action<int, int> body)
    {
        int chunks = Threads.ChunksFor(elements, count);
        if (chunks <= 1) { body(0, count); return; }
        Parallel.For(0, chunks, Threads.Options, c => body((int)((long)count * c / chunks), (int)((long)count * (c + 1) / chunks)));
    }

    /// <summary>
    /// Scatter-adds (gradients of gathered rows) on all cores without locks: core c of C owns the
    /// destination rows r with r mod C = c, and <paramref name="body"/>(c, C) applies only those.
    /// </summary>
    private static void ForEachOwner(int entries, int width, Action<int, int> body)
    {
        int owners = Threads.ChunksFor((long)entries * width, int.MaxValue);
        if (owners == 1) body(0, 1);
        else Parallel.For(0, owners, Threads.Options, c => body(c, owners));
    }

    /// <summary>
    /// Adds Σ_r f(r, partial) over the rows of a [rows × cols] op into <paramref name="into"/>: each
    /// core sums its rows into its own partial (<paramref name="addRow"/> adds row r's term), then the
    /// partials are added in order.
    /// </summary>
    private static void SumRows(int rows, int cols, Span<float> into, Action<int, float[]> addRow)
    {
        int chunks = Threads.ChunksFor((long)rows * cols, rows);
        var partials = new float[Math.Max(1, chunks)][];
        for (int c = 0; c < partials.Length; c++) partials[c] = new float[cols];
        if (chunks <= 1) for (int r = 0; r < rows; r++) addRow(r, partials[0]);
        else Parallel.For(0, chunks, Threads.Options, c =>
        {
            for (int r = (int)((long)rows * c / chunks), end = (int)((long)rows * (c + 1) / chunks); r < end; r++) addRow(r, partials[c]);
        });
        foreach (var p in partials) TensorPrimitives.Add(into, p, into);
    }

    public static Tensor Scalar(float value)
    {
        var t = new Tensor();
        t[0] = value;
        return t;
    }

    private static void CheckSameShape(Variable a, Variable b, string op)
    {
        if (!a.Value.SameShape(b.Value))
            throw new ArgumentException($"{op}: shapes {Tensor.ShapeString(a.Shape)} and {Tensor.ShapeString(b.Shape)} differ");
    }

    private static void CheckMatrix(Variable x, string op, string name = "input")
    {
        if (x.Value.Rank != 2) throw new ArgumentException($"{op}: {name} must be a matrix, got shape {Tensor.ShapeString(x.Shape)}");
    }
}
