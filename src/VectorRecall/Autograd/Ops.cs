using VectorRecall.Numerics;

namespace VectorRecall.Autograd;

/// <summary>
/// Differentiable operations (the counterpart of <c>torch</c> and <c>torch.nn.functional</c>).
/// Each computes its output eagerly; when a tape is recording and an input requires a gradient,
/// it also leaves the closure that adds the output's gradient into its inputs' gradients.
/// Matrices are [rows × cols]; a bias or per-column vector is rank 1; a loss is a scalar (rank 0).
/// </summary>
public static partial class Ops
{
    /// <summary>Wraps an op's result; records it on the current tape when any input needs a gradient.</summary>
    private static Variable Output(Tensor value, Variable a, Variable? b = null, Variable? c = null)
    {
        var tape = Tape.Current;
        bool track = tape is not null && (a.RequiresGrad || (b?.RequiresGrad ?? false) || (c?.RequiresGrad ?? false));
        var output = new Variable(value, track);
        if (track) tape!.Record(output);
        return output;
    }

    private static Variable OutputOfMany(Tensor value, IReadOnlyList<Variable> inputs)
    {
        var tape = Tape.Current;
        bool track = tape is not null && inputs.Any(v => v.RequiresGrad);
        var output = new Variable(value, track);
        if (track) tape!.Record(output);
        return output;
    }

    private static Tensor Like(Tensor t) => new(t.Shape.ToArray());

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
