using VectorRecall.Numerics;

namespace VectorRecall.Autograd;

internal static partial class Ops
{
    /// <summary>a·b, or a·bᵀ when <paramref name="transposeB"/> (a: [m×k]; b: [k×n], or [n×k] transposed).</summary>
    public static Variable MatMul(Variable a, Variable b, bool transposeB = false)
    {
        CheckMatrix(a, "matmul", "a");
        CheckMatrix(b, "matmul", "b");
        int m = a.Rows, k = a.Cols, n = transposeB ? b.Rows : b.Cols;
        int kb = transposeB ? b.Cols : b.Rows;
        if (k != kb) throw new ArgumentException($"matmul: a is {m}x{k} but b{(transposeB ? "ᵀ" : "")} is {kb}x{n}");
        var y = New([m, n], clear: false);
        Gemm.Multiply(a.Value, false, b.Value, transposeB, y);
        var output = Output(y, a, b);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                var gy = output.Grad!;
                if (a.RequiresGrad)
                {
                    var (ga, accumulate) = a.GradTarget();
                    Gemm.Multiply(gy, false, b.Value, !transposeB, ga, accumulate);
                }
                if (b.RequiresGrad)
                {
                    var (gb, accumulate) = b.GradTarget();
                    if (transposeB) Gemm.Multiply(gy, true, a.Value, false, gb, accumulate);
                    else Gemm.Multiply(a.Value, true, gy, false, gb, accumulate);
                }
            };
        return output;
    }

    /// <summary>
    /// x·Wᵀ + b with W stored [out × in] (<c>F.linear</c>); the bias (length out) may be null. One op
    /// rather than MatMul then AddBias, so the bias is added in place and its gradient needs no copy.
    /// With <paramref name="columnMoments"/> the output carries its column moments (<see cref="Variable.Moments"/>),
    /// taken by the GEMM tile by tile about the first row's values, for the batch norm that follows.
    /// </summary>
    public static Variable Linear(Variable x, Variable weight, Variable? bias, bool columnMoments = false)
    {
        CheckMatrix(x, "linear", "x");
        CheckMatrix(weight, "linear", "weight");
        int m = x.Rows, k = x.Cols, n = weight.Rows;
        if (weight.Cols != k) throw new ArgumentException($"linear: input has {k} features, weight is {n}x{weight.Cols}");
        if (bias is not null && bias.Value.Length != n) throw new ArgumentException($"linear: bias has {bias.Value.Length} values, expected {n}");
        var y = New([m, n], clear: false);
        var biasValues = bias is null ? default : bias.Value.Span;
        ColumnMoments? moments = null;
        if (columnMoments && m > 0)
        {
            // The shift is the first row, computed apart (a few dot products) so the GEMM knows it before any tile is done.
            moments = new ColumnMoments(new float[n], new float[2 * n], m);
            Gemm.Multiply(x.Value.Span[..k], k, false, weight.Value.Span, k, true, moments.Shift, n, 1, n, k, bias: biasValues);
        }
        Gemm.Multiply(x.Value.Span, k, false, weight.Value.Span, k, true, y.Span, n, m, n, k, bias: biasValues,
            momentShift: moments is null ? default : moments.Shift, columnMoments: moments is null ? default : moments.Sums);
        var output = Output(y, x, weight, bias);
        output.Moments = moments;
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                var gy = output.Grad!;
                if (x.RequiresGrad)
                {
                    var (gx, accumulate) = x.GradTarget();
                    Gemm.Multiply(gy, false, weight.Value, false, gx, accumulate);
                }
                // The bias gradient (dY's column sums) is taken as the weight gradient's GEMM packs dYᵀ.
                var biasGrad = bias is { RequiresGrad: true } ? bias.GradBuffer() : null;
                if (weight.RequiresGrad)
                {
                    var (gw, accumulate) = weight.GradTarget();
                    Gemm.Multiply(gy, true, x.Value, false, gw, accumulate, aRowSums: biasGrad);
                }
                else if (biasGrad is not null) AddColumnSums(gy, biasGrad.Span);
            };
        return output;
    }

    /// <summary>
    /// out[b, j] = x[b] · g[b·n + j]: each row of x against its own group of n rows of g
    /// (<c>einsum("bd,bnd->bn")</c>), as for per-example sampled negatives.
    /// </summary>
    public static Variable GroupedDot(Variable x, Variable g)
    {
        CheckMatrix(x, "grouped dot", "x");
        CheckMatrix(g, "grouped dot", "g");
        int b = x.Rows, d = x.Cols;
        if (g.Cols != d || b == 0 || g.Rows % b != 0)
            throw new ArgumentException($"grouped dot: g is {g.Rows}x{g.Cols}, expected a multiple of {b} rows of width {d}");
        int n = g.Rows / b;
        var y = New([b, n], clear: false);
        GroupedDots(x.Value, g.Value, 0, n, y, 0);
        var output = Output(y, x, g);
        if (output.RequiresGrad)
            output.BackwardFn = () => GroupedDotsBackward(x.Value, g.Value, 0, n, output.Grad!, 0,
                x.RequiresGrad ? x.GradBuffer() : null, g.RequiresGrad ? g.GradBuffer() : null, overwriteGg: false);
        return output;
    }

    /// <summary>into[r, column + j] = x[r] · g[first + r·n + j] for j &lt; n: the grouped dot, written into columns of a wider matrix.</summary>
    private static void GroupedDots(Tensor x, Tensor g, int first, int n, Tensor into, int column)
    {
        ForChunks(x.Rows, (long)x.Rows * n * x.Cols, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                var row = into.Row(r);
                for (int j = 0; j < n; j++) row[column + j] = Distances.Dot(x.Row(r), g.Row(first + r * n + j));
            }
        });
    }

    /// <summary>
    /// The grouped dot's backward from gy[r, column + j]: gx[r] += Σ_j gy·g[first + r·n + j], and gg[first + r·n + j] += gy·x[r]
    /// (or = when <paramref name="overwriteGg"/>: the rows' first gradient). Either gradient may be null.
    /// </summary>
    private static void GroupedDotsBackward(Tensor x, Tensor g, int first, int n, Tensor gy, int column, Tensor? gx, Tensor? gg, bool overwriteGg)
    {
        ForChunks(x.Rows, (long)x.Rows * n * x.Cols, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
                for (int j = 0; j < n; j++)
                {
                    float s = gy[r, column + j];
                    if (gx is not null) RowKernels.AddScaled(g.Row(first + r * n + j), s, gx.Row(r));
                    if (gg is null) continue;
                    var into = gg.Row(first + r * n + j);
                    if (overwriteGg) RowKernels.Scale(x.Row(r), s, into);
                    else RowKernels.AddScaled(x.Row(r), s, into);
                }
        });
    }

    /// <summary>into += g's column sums (a bias's gradient).</summary>
    private static void AddColumnSums(Tensor g, Span<float> into) => SumRows(g.Rows, g.Cols, into, (r, acc) => RowKernels.Add(g.Row(r), acc));

    /// <summary>x + bias, the bias (rank 1, length cols) added to every row.</summary>
    public static Variable AddBias(Variable x, Variable bias)
    {
        int cols = x.Cols;
        if (bias.Value.Length != cols) throw new ArgumentException($"bias: length {bias.Value.Length} does not match {cols} columns");
        var y = New(x.Shape, clear: false);
        for (int r = 0; r < x.Rows; r++) TensorPrimitives.Add(x.Value.Row(r), bias.Value.Span, y.Row(r));
        var output = Output(y, x, bias);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                var gy = output.Grad!;
                if (bias.RequiresGrad) AddColumnSums(gy, bias.GradBuffer().Span);
                if (x.RequiresGrad) x.AccumulateGrad(gy);
            };
        return output;
    }

    public static Variable Add(Variable a, Variable b) => AddScaled(a, b, 1f, "add");

    public static Variable Sub(Variable a, Variable b) => AddScaled(a, b, -1f, "sub");

    /// <summary>a + s·b (element-wise, same shapes): add for s = 1, sub for s = −1.</summary>
    private static Variable AddScaled(Variable a, Variable b, float s, string op)
    {
        CheckSameShape(a, b, op);
        var y = Like(a.Value);
        TensorPrimitives.MultiplyAdd(b.Value.Span, s, a.Value.Span, y.Span);
        var output = Output(y, a, b);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                var gy = output.Grad!.Span;
                if (a.RequiresGrad) TensorPrimitives.Add(a.GradBuffer().Span, gy, a.GradBuffer().Span);
                if (b.RequiresGrad) TensorPrimitives.MultiplyAdd(gy, s, b.GradBuffer().Span, b.GradBuffer().Span);
            };
        return output;
    }

    /// <summary>Element-wise product of two tensors of one shape.</summary>
    public static Variable Mul(Variable a, Variable b)
    {
        CheckSameShape(a, b, "mul");
        var y = Like(a.Value);
        TensorPrimitives.Multiply(a.Value.Span, b.Value.Span, y.Span);
        var output = Output(y, a, b);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                var gy = output.Grad!.Span;
                if (a.RequiresGrad) TensorPrimitives.MultiplyAdd(gy, b.Value.Span, a.GradBuffer().Span, a.GradBuffer().Span);
                if (b.RequiresGrad) TensorPrimitives.MultiplyAdd(gy, a.Value.Span, b.GradBuffer().Span, b.GradBuffer().Span);
            };
        return output;
    }

    public static Variable Scale(Variable x, float s)
    {
        var y = Like(x.Value);
        TensorPrimitives.Multiply(x.Value.Span, s, y.Span);
        var output = Output(y, x);
        if (output.RequiresGrad)
            output.BackwardFn = () => TensorPrimitives.MultiplyAdd(output.Grad!.Span, s, x.GradBuffer().Span, x.GradBuffer().Span);
        return output;
    }

    /// <summary>Sum of all elements (a scalar).</summary>
    public static Variable Sum(Variable x) => Reduce(x, 1f);

    /// <summary>Mean of all elements (a scalar).</summary>
    public static Variable Mean(Variable x) => Reduce(x, x.Value.Length == 0 ? 0f : 1f / x.Value.Length);

    private static Variable Reduce(Variable x, float scale)
    {
        var output = Output(Scalar((float)(SumDouble(x.Value.Span) * scale)), x);
        if (output.RequiresGrad)
            output.BackwardFn = () => TensorPrimitives.Add(x.GradBuffer().Span, output.Grad![0] * scale, x.GradBuffer().Span);
        return output;
    }

    private static double SumDouble(ReadOnlySpan<float> values)
    {
        double sum = 0;
        const int chunk = 4096;
        for (int i = 0; i < values.Length; i += chunk)
            sum += TensorPrimitives.Sum(values.Slice(i, Math.Min(chunk, values.Length - i)));
        return sum;
    }

    /// <summary>Concatenates matrices with the same number of rows side by side.</summary>
    public static Variable ConcatColumns(params Variable[] parts)
    {
        if (parts.Length == 0) throw new ArgumentException("concat: nothing to concatenate");
        int rows = parts[0].Rows, total = 0;
        foreach (var p in parts)
        {
            CheckMatrix(p, "concat");
            if (p.Rows != rows) throw new ArgumentException($"concat: {p.Rows} rows where {rows} were expected");
            total += p.Cols;
        }
        var y = New([rows, total], clear: false);
        ForChunks(rows, y.Length, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                int at = 0;
                foreach (var p in parts) { p.Value.Row(r).CopyTo(y.Row(r).Slice(at)); at += p.Cols; }
            }
        });
        var output = OutputOfMany(y, parts);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                var gy = output.Grad!;
                // One pass down the rows, each split among the parts while it is in cache (a pass per part re-read gy).
                var targets = new (Tensor Buffer, bool Accumulate)[parts.Length];
                for (int i = 0; i < parts.Length; i++)
                    if (parts[i].RequiresGrad) targets[i] = parts[i].GradTarget();
                ForChunks(rows, gy.Length, (r0, r1) =>
                {
                    for (int r = r0; r < r1; r++)
                    {
                        var row = gy.Row(r);
                        for (int i = 0, at = 0; i < parts.Length; at += parts[i].Cols, i++)
                        {
                            var (gp, accumulate) = targets[i];
                            if (gp is null) continue;
                            var part = row.Slice(at, parts[i].Cols);
                            if (accumulate) RowKernels.Add(part, gp.Row(r));
                            else part.CopyTo(gp.Row(r));
                        }
                    }
                });
            };
        return output;
    }

    /// <summary>Rows [start, start + count) of x (<c>x[start:start+count]</c>); the gradient goes back to those rows.</summary>
    public static Variable SliceRows(Variable x, int start, int count)
    {
        CheckMatrix(x, "slice rows");
        if (start < 0 || count < 0 || start + count > x.Rows) throw new ArgumentOutOfRangeException(nameof(start), $"slice rows: [{start}, {start + count}) is outside the {x.Rows} rows");
        var y = New(x.Value.RowRange(start, count).Shape, clear: false);
        x.Value.RowRange(start, count).Span.CopyTo(y.Span);
        var output = Output(y, x);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                var gx = x.GradBuffer().RowRange(start, count).Span;
                TensorPrimitives.Add(gx, output.Grad!.Span, gx);
            };
        return output;
    }

    /// <summary>Columns [start, start + count) of a matrix (<c>x[:, start:start+count]</c>); the gradient lands in those columns.</summary>
    public static Variable SliceColumns(Variable x, int start, int count)
    {
        CheckMatrix(x, "slice columns");
        int cols = x.Cols;
        if (start < 0 || count < 0 || start + count > cols) throw new ArgumentOutOfRangeException(nameof(start), $"slice columns: [{start}, {start + count}) is outside the {cols} columns");
        var y = New([x.Rows, count], clear: false);
        for (int r = 0; r < x.Rows; r++) x.Value.Row(r).Slice(start, count).CopyTo(y.Row(r));
        var output = Output(y, x);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                var gx = x.GradBuffer();
                for (int r = 0; r < x.Rows; r++)
                {
                    var row = gx.Row(r).Slice(start, count);
                    TensorPrimitives.Add(row, output.Grad!.Row(r), row);
                }
            };
        return output;
    }

    /// <summary>The same values under another shape with as many elements (<c>x.reshape</c>); the gradient is reshaped back.</summary>
    public static Variable Reshape(Variable x, params int[] shape)
    {
        var y = New(shape, clear: false);
        if (y.Length != x.Value.Length) throw new ArgumentException($"reshape: {Tensor.ShapeString(x.Shape)} has {x.Value.Length} elements, {Tensor.ShapeString(shape)} needs {y.Length}");
        x.Value.Span.CopyTo(y.Span);
        var output = Output(y, x);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                var gx = x.GradBuffer().Span;
                TensorPrimitives.Add(gx, output.Grad!.Span, gx);
            };
        return output;
    }

    /// <summary>out[i] = x[rows[i]]. The gradient is scattered back (row-sparse for embedding tables).</summary>
    public static Variable GatherRows(Variable x, int[] rows)
    {
        int n = x.Rows, d = x.Cols;
        for (int i = 0; i < rows.Length; i++)
            if ((uint)rows[i] >= (uint)n) throw new ArgumentOutOfRangeException(nameof(rows), $"gather: row {rows[i]} at position {i} is outside [0, {n})");
        var y = New([rows.Length, d], clear: false);
        ForChunks(rows.Length, (long)rows.Length * d, (i0, i1) =>
        {
            for (int i = i0; i < i1; i++)
            {
                if (i + Prefetch.RowsAhead < i1) Prefetch.Lines(x.Value.Row(rows[i + Prefetch.RowsAhead]));
                x.Value.Row(rows[i]).CopyTo(y.Row(i));
            }
        });
        var output = Output(y, x);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                var gy = output.Grad!;
                var gx = x.GradBuffer();
                foreach (int row in rows) x.TouchRow(row);
                ForEachOwner(rows.Length, d, (owner, owners) =>
                {
                    for (int i = 0; i < rows.Length; i++)
                    {
                        if (i + Prefetch.RowsAhead < rows.Length && rows[i + Prefetch.RowsAhead] % owners == owner) Prefetch.Lines(gx.Row(rows[i + Prefetch.RowsAhead]));
                        if (rows[i] % owners == owner) RowKernels.Add(gy.Row(i), gx.Row(rows[i]));
                    }
                });
            };
        return output;
    }

    /// <summary>Y = A·X for a constant sparse A [m × n] and X [n × d] (<c>torch.sparse.mm</c>); the gradient is Aᵀ·dY.</summary>
    public static Variable SparseMatMul(SparseMatrix a, Variable x)
    {
        CheckMatrix(x, "sparse product", "x");
        if (x.Rows != a.Cols) throw new ArgumentException($"sparse product: A is {a.Rows}x{a.Cols} but x is {x.Rows}x{x.Cols}");
        var y = New([a.Rows, x.Cols], clear: false);
        a.Multiply(x.Value, y);
        var output = Output(y, x);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                var (gx, accumulate) = x.GradTarget();
                a.Transposed.Multiply(output.Grad!, gx, accumulate);
            };
        return output;
    }

    public static Variable Embedding(Variable weight, int[] ids) => GatherRows(weight, ids);

    /// <summary>
    /// Pools bags of embedding rows without materialising them (<c>torch.nn.functional.embedding_bag</c>):
    /// bag b holds <c>indices[offsets[b] .. offsets[b+1])</c> (the last bag runs to the end). An
    /// empty bag gives zeros.
    /// </summary>
    public static Variable EmbeddingBag(Variable weight, int[] indices, int[] offsets, BagMode mode)
    {
        int n = weight.Rows, d = weight.Cols, bags = offsets.Length;
        for (int b = 0; b < bags; b++)
        {
            int start = offsets[b], end = b + 1 < bags ? offsets[b + 1] : indices.Length;
            if (start < 0 || end < start || end > indices.Length)
                throw new ArgumentException($"embedding bag: offsets[{b}] = {start} is not a valid start in [0, {indices.Length}] before {end}");
        }
        for (int i = 0; i < indices.Length; i++)
            if ((uint)indices[i] >= (uint)n) throw new ArgumentOutOfRangeException(nameof(indices), $"embedding bag: index {indices[i]} at position {i} is outside [0, {n})");

        var y = New([bags, d], clear: true);
        ForChunks(bags, (long)indices.Length * d, (b0, b1) =>
        {
            for (int b = b0; b < b1; b++)
            {
                int start = offsets[b], end = b + 1 < bags ? offsets[b + 1] : indices.Length;
                var row = y.Row(b);
                for (int i = start; i < end; i++)
                {
                    if (i + Prefetch.RowsAhead < indices.Length) Prefetch.Lines(weight.Value.Row(indices[i + Prefetch.RowsAhead]));
                    RowKernels.Add(weight.Value.Row(indices[i]), row);
                }
                if (mode == BagMode.Mean && end > start) TensorPrimitives.Multiply(row, 1f / (end - start), row);
            }
        });
        var output = Output(y, weight);
        if (output.RequiresGrad)
            output.BackwardFn = () =>
            {
                var gy = output.Grad!;
                var gw = weight.GradBuffer();
                foreach (int index in indices) weight.TouchRow(index);
                ForEachOwner(indices.Length, d, (owner, owners) =>
                {
                    for (int b = 0; b < bags; b++)
                    {
                        int start = offsets[b], end = b + 1 < bags ? offsets[b + 1] : indices.Length;
                        float s = mode == BagMode.Mean && end > start ? 1f / (end - start) : 1f;
                        for (int i = start; i < end; i++)
                        {
                            if (i + Prefetch.RowsAhead < indices.Length && indices[i + Prefetch.RowsAhead] % owners == owner) Prefetch.Lines(gw.Row(indices[i + Prefetch.RowsAhead]));
                            if (indices[i] % owners == owner) RowKernels.AddScaled(gy.Row(b), s, gw.Row(indices[i]));
                        }
                    }
                });
            };
        return output;
    }

    /// <summary>A view of the same value that the gradient does not flow through (<c>detach()</c>).</summary>
    public static Variable Detach(Variable x) => new(x.Value);
}

/// <summary>How <see cref="Ops.EmbeddingBag"/> pools a bag.</summary>
public enum BagMode { Sum, Mean }
