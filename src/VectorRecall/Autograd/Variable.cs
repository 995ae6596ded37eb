using VectorRecall.Numerics;

namespace VectorRecall.Autograd;

/// <summary>
/// A tensor in the computation graph: its value, and (once backward has reached it) the gradient
/// of the loss with respect to it. Variables made by an op while a <see cref="Tape"/> is recording
/// carry the closure that passes their gradient on to the op's inputs.
/// </summary>
public class Variable
{
    public Variable(Tensor value, bool requiresGrad = false)
    {
        Value = value;
        RequiresGrad = requiresGrad;
    }

    public Tensor Value { get; }
    public Tensor? Grad { get; private set; }
    public bool RequiresGrad { get; }
    public ReadOnlySpan<int> Shape => Value.Shape;
    public int Rows => Value.Rows;
    public int Cols => Value.Cols;

    /// <summary>Passes this variable's gradient to its inputs; null for leaves.</summary>
    internal Action? BackwardFn { get; set; }

    /// <summary>Whether an op made this variable on a tape (an intermediate, not a leaf or parameter).</summary>
    internal bool Recorded { get; set; }

    /// <summary>This value's column moments, when the op that made it took them on the way (for a batch norm that follows).</summary>
    internal ColumnMoments? Moments { get; set; }

    /// <summary>The gradient buffer, allocated as zeros on first use; backward passes add into it.</summary>
    internal Tensor GradBuffer() => Grad ??= NewGrad(clear: true);

    /// <summary>
    /// Where a backward pass that computes a whole gradient should put it: the existing buffer to add
    /// into (<c>Accumulate</c> true), or a new, uninitialised one to overwrite.
    /// </summary>
    internal (Tensor Buffer, bool Accumulate) GradTarget() => Grad is { } g ? (g, true) : (Grad = NewGrad(clear: false), false);

    /// <summary>
    /// Adds <paramref name="g"/> to the gradient. An intermediate without a gradient yet takes
    /// <paramref name="g"/> itself instead of a copy: it is an op output's gradient, which nothing
    /// reads once that op's backward has run.
    /// </summary>
    internal void AccumulateGrad(Tensor g)
    {
        if (Grad is null && Recorded) Grad = g;
        else System.Numerics.Tensors.TensorPrimitives.Add(GradBuffer().Span, g.Span, Grad!.Span);
    }

    // Intermediates' gradients live as long as the tape, so they may come from its pool; leaves' and parameters' must persist.
    private Tensor NewGrad(bool clear) =>
        Recorded && Tape.Current is { Pooled: true } tape ? tape.Allocate(Value.Shape, clear) : new Tensor(Value.Shape.ToArray());

    /// <summary>Called by row-gathering ops before they add into row <paramref name="row"/> of the gradient.</summary>
    internal virtual void TouchRow(int row) { }

    /// <summary>Sets the gradient to zero (only the rows that were touched, for row-sparse parameters).</summary>
    public virtual void ZeroGrad() => Grad?.Clear();

    /// <summary>Drops the gradient buffer.</summary>
    internal void ReleaseGrad() => Grad = null;

    public static implicit operator Variable(Tensor value) => new(value);

    public override string ToString() => $"Variable{Tensor.ShapeString(Shape)}{(RequiresGrad ? " requires_grad" : "")}";
}

/// <summary>
/// A learnable tensor owned by a module. A row-sparse parameter (an embedding table) records
/// which rows a step touched, so that optimisers and <see cref="ZeroGrad"/> visit only those rows.
/// </summary>
public sealed class Parameter : Variable
{
    private bool[]? _touched;
    private readonly List<int> _touchedRows = [];

    public Parameter(Tensor value, bool rowSparse = false) : base(value, requiresGrad: true)
    {
        RowSparse = rowSparse;
        if (rowSparse) _touched = new bool[value.Rows];
    }

    /// <summary>Whether gradients arrive for a few rows at a time (embedding tables).</summary>
    public bool RowSparse { get; }

    /// <summary>Rows with a gradient since the last <see cref="ZeroGrad"/> (row-sparse parameters only).</summary>
    public IReadOnlyList<int> TouchedRows => _touchedRows;

    internal override void TouchRow(int row)
    {
        if (_touched is null || _touched[row]) return;
        _touched[row] = true;
        _touchedRows.Add(row);
    }

    /// <summary>Forgets which rows were touched, their gradient rows already cleared (by the optimiser's fused step).</summary>
    internal void ForgetTouchedRows()
    {
        foreach (int r in _touchedRows) _touched![r] = false;
        _touchedRows.Clear();
    }

    public override void ZeroGrad()
    {
        if (_touched is null) { base.ZeroGrad(); return; }
        if (Grad is { } g)
            foreach (int r in _touchedRows) g.Row(r).Clear();
        foreach (int r in _touchedRows) _touched[r] = false;
        _touchedRows.Clear();
    }
}

/// <summary>
/// Per column j of a matrix of <paramref name="Rows"/> rows: <paramref name="Sums"/>[j] = Σ(x − s[j]) and
/// <paramref name="Sums"/>[d + j] = Σ(x − s[j])² about a <paramref name="Shift"/> s close to the column's values.
/// </summary>
internal sealed record ColumnMoments(float[] Shift, float[] Sums, int Rows);
