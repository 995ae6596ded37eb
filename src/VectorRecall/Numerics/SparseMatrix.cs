namespace VectorRecall.Numerics;

/// <summary>
/// A sparse matrix in compressed sparse row form (CSR: each row's column indices and values, rows one after
/// another), as <c>torch.sparse_csr</c> and scipy hold it. It multiplies dense row-major matrices, which is all
/// that graph propagation and graph filters need: Y = A·X costs one pass over the non-zeros per column of X.
/// </summary>
public sealed class SparseMatrix
{
    private readonly int[] _rowStart, _columns;
    private readonly float[] _values;
    private SparseMatrix? _transposed;

    /// <summary>Wraps CSR arrays (not copied): row r's entries are at [rowStart[r], rowStart[r + 1]).</summary>
    public SparseMatrix(int rows, int cols, int[] rowStart, int[] columns, float[] values)
    {
        if (rows < 0 || cols < 0) throw new ArgumentOutOfRangeException(nameof(rows), $"a {rows} x {cols} matrix has a negative size");
        if (rowStart.Length != rows + 1 || rowStart[0] != 0 || rowStart[rows] != columns.Length || columns.Length != values.Length)
            throw new ArgumentException($"CSR arrays do not fit a {rows} x {cols} matrix: {rowStart.Length} row starts, {columns.Length} columns, {values.Length} values");
        for (int r = 0; r < rows; r++)
            if (rowStart[r + 1] < rowStart[r]) throw new ArgumentException($"CSR row {r} ends before it starts");
        foreach (int c in columns)
            if ((uint)c >= (uint)cols) throw new ArgumentException($"CSR column {c} is outside [0, {cols})");
        Rows = rows;
        Cols = cols;
        _rowStart = rowStart;
        _columns = columns;
        _values = values;
    }

    public int Rows { get; }
    public int Cols { get; }
    public int NonZeros => _columns.Length;

    /// <summary>Row r's column indices and values.</summary>
    public (ReadOnlyMemory<int> Columns, ReadOnlyMemory<float> Values) Row(int r) =>
        (_columns.AsMemory(_rowStart[r], _rowStart[r + 1] - _rowStart[r]), _values.AsMemory(_rowStart[r], _rowStart[r + 1] - _rowStart[r]));

    /// <summary>From (row, column, value) triples in any order; repeated positions stay separate entries (their sum is what multiplies).</summary>
    public static SparseMatrix FromEntries(int rows, int cols, ReadOnlySpan<int> row, ReadOnlySpan<int> col, ReadOnlySpan<float> value)
    {
        if (row.Length != col.Length || row.Length != value.Length) throw new ArgumentException($"{row.Length} rows, {col.Length} columns and {value.Length} values do not pair up");
        var start = new int[rows + 1];
        foreach (int r in row)
        {
            if ((uint)r >= (uint)rows) throw new ArgumentException($"row {r} is outside [0, {rows})");
            start[r + 1]++;
        }
        for (int r = 0; r < rows; r++) start[r + 1] += start[r];
        var next = start[..rows];
        var columns = new int[row.Length];
        var values = new float[row.Length];
        for (int e = 0; e < row.Length; e++)
        {
            int at = next[row[e]]++;
            columns[at] = col[e];
            values[at] = value[e];
        }
        return new SparseMatrix(rows, cols, start, columns, values);
    }

    /// <summary>Aᵀ, built once and kept (the backward pass of A·X multiplies by it).</summary>
    public SparseMatrix Transposed => _transposed ??= Transpose();

    private SparseMatrix Transpose()
    {
        var rowOf = new int[NonZeros];
        for (int r = 0; r < Rows; r++) rowOf.AsSpan(_rowStart[r], _rowStart[r + 1] - _rowStart[r]).Fill(r);
        var t = FromEntries(Cols, Rows, _columns, rowOf, _values);
        t._transposed = this;
        return t;
    }

    /// <summary>
    /// y = A·x (or y += A·x with <paramref name="accumulate"/>) for x [<see cref="Cols"/> × d] and
    /// y [<see cref="Rows"/> × d]; rows are split across the cores.
    /// </summary>
    public void Multiply(Tensor x, Tensor y, bool accumulate = false)
    {
        if (x.Rank != 2 || y.Rank != 2 || x.Rows != Cols || y.Rows != Rows || x.Cols != y.Cols)
            throw new ArgumentException($"sparse product: A is {Rows} x {Cols}, x is {x} and y {y}");
        int d = x.Cols;
        int chunks = Threads.ChunksFor((long)NonZeros * d, Rows);
        void Span(int r0, int r1)
        {
            for (int r = r0; r < r1; r++)
            {
                var yr = y.Row(r);
                if (!accumulate) yr.Clear();
                for (int e = _rowStart[r]; e < _rowStart[r + 1]; e++) TensorPrimitives.MultiplyAdd(x.Row(_columns[e]), _values[e], yr, yr);
            }
        }
        if (chunks <= 1) Span(0, Rows);
        else Parallel.For(0, chunks, Threads.Options, c => Span((int)((long)Rows * c / chunks), (int)((long)Rows * (c + 1) / chunks)));
    }

    /// <summary>A·x as a new [<see cref="Rows"/> × d] tensor.</summary>
    public Tensor Multiply(Tensor x)
    {
        if (x.Rank != 2 || x.Rows != Cols) throw new ArgumentException($"sparse product: A is {Rows} x {Cols} but x is {x}");
        var y = new Tensor(Rows, x.Cols);
        Multiply(x, y);
        return y;
    }
}
