using VectorRecall.Numerics;

namespace VectorRecall.Autograd;

/// <summary>
/// Records the ops of one forward pass so that <see cref="Backward"/> can replay them in reverse.
/// A tape is current for its thread from construction until disposal; ops run without a current
/// tape (inference) record nothing and keep no closures. Typical use:
/// <code>
/// using (var tape = new Tape()) { var loss = model.Forward(x) ...; tape.Backward(loss); }
/// optimizer.Step();
/// </code>
/// </summary>
public sealed class Tape : IDisposable
{
    [ThreadStatic] private static Tape? _current;

    private readonly Tape? _previous;
    private readonly List<Variable> _nodes = [];
    private readonly TensorPool? _pool;
    private readonly List<float[]> _rented = [];
    private readonly List<long>? _recordedAt;
    private long _startedAt;
    private bool _disposed;

    /// <summary>
    /// Starts recording on this thread. A <paramref name="pooled"/> tape takes the arrays of op
    /// results and intermediate gradients from a per-thread pool and gives them back when disposed:
    /// much faster for training loops, but every value computed while it records is only valid
    /// until then (copy out what must outlive the step, such as the loss).
    /// </summary>
    public Tape(bool pooled = false)
    {
        _previous = _current;
        _current = this;
        if (pooled) _pool = TensorPool.ForThread;
        if (ForwardProfile is not null) { _recordedAt = []; _startedAt = System.Diagnostics.Stopwatch.GetTimestamp(); }
    }

    public bool Pooled => _pool is not null;

    /// <summary>False for an <see cref="Inference"/> tape: ops record nothing and keep no closures.</summary>
    public bool Recording { get; private init; } = true;

    /// <summary>
    /// A tape for inference on this thread: nothing is recorded (like <see cref="NoGrad{T}"/>), but op
    /// results come from the thread's pool, so a forward pass allocates almost nothing. Values are
    /// valid until the tape is disposed; copy out the result.
    /// </summary>
    public static Tape Inference() => new(pooled: true) { Recording = false };

    /// <summary>A tensor for an op result or gradient: pooled when this tape pools (zeroed only if <paramref name="clear"/>), else fresh zeros.</summary>
    internal Tensor Allocate(ReadOnlySpan<int> shape, bool clear)
    {
        if (_pool is null) return new Tensor(shape.ToArray());
        var t = _pool.RentTensor(shape, clear);
        _rented.Add(t.Data);
        return t;
    }

    /// <summary>When set, <see cref="Backward"/> adds each op's backward time (milliseconds) under the op's name (for profiling).</summary>
    internal static Dictionary<string, double>? BackwardProfile { get; set; }

    /// <summary>
    /// When set (before the tape is made), <see cref="Backward"/> also adds each op's forward time under the op's name: the
    /// time from the previous op's output to this one's, so work between ops (such as gathering a batch) counts for the next op.
    /// </summary>
    internal static Dictionary<string, double>? ForwardProfile { get; set; }

    /// <summary>The tape recording on this thread, if any.</summary>
    public static Tape? Current => _current;

    /// <summary>Number of recorded op outputs.</summary>
    public int Count => _nodes.Count;

    /// <summary>Runs <paramref name="body"/> with recording paused (like <c>torch.no_grad()</c>).</summary>
    public static T NoGrad<T>(Func<T> body)
    {
        var saved = _current;
        _current = null;
        try { return body(); }
        finally { _current = saved; }
    }

    internal void Record(Variable output)
    {
        output.Recorded = true;
        _nodes.Add(output);
        _recordedAt?.Add(System.Diagnostics.Stopwatch.GetTimestamp());
    }

    /// <summary>
    /// Back-propagates from <paramref name="loss"/> (a single value, seeded with gradient 1, or any
    /// shape when <paramref name="seed"/> is given). Leaf gradients accumulate: zero them between steps.
    /// </summary>
    public void Backward(Variable loss, Numerics.Tensor? seed = null)
    {
        if (_disposed) throw new ObjectDisposedException(nameof(Tape));
        if (!loss.RequiresGrad) throw new InvalidOperationException("the loss does not depend on anything that requires a gradient");
        var g = loss.GradBuffer();
        if (seed is null)
        {
            if (loss.Value.Length != 1) throw new ArgumentException($"loss has shape {Numerics.Tensor.ShapeString(loss.Shape)}; pass a seed gradient for a non-scalar output");
            g[0] += 1f;
        }
        else
        {
            if (!seed.SameShape(loss.Value)) throw new ArgumentException($"seed shape {seed} does not match loss {loss}");
            System.Numerics.Tensors.TensorPrimitives.Add(g.Span, seed.Span, g.Span);
        }
        if (_recordedAt is not null && ForwardProfile is { } forward)
            for (int i = 0; i < _nodes.Count; i++)
                if (_nodes[i].BackwardFn is { } fn && OpName(fn) is var name)
                    forward[name] = forward.GetValueOrDefault(name) + System.Diagnostics.Stopwatch.GetElapsedTime(i == 0 ? _startedAt : _recordedAt[i - 1], _recordedAt[i]).TotalMilliseconds;
        // Creation order is a topological order, so its reverse visits every output before its inputs.
        var profile = BackwardProfile;
        for (int i = _nodes.Count - 1; i >= 0; i--)
        {
            var node = _nodes[i];
            if (node.Grad is null || node.BackwardFn is not { } backward) continue;
            if (profile is null) { backward(); continue; }
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            backward();
            string op = OpName(backward);
            profile[op] = profile.GetValueOrDefault(op) + System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        // Intermediate gradients are not needed once they have been passed on.
        foreach (var node in _nodes) { node.BackwardFn = null; node.ReleaseGrad(); }
        _nodes.Clear();
    }

    /// <summary>The op that made a backward closure: its compiler-made name starts with the op's, e.g. "&lt;MatMul&gt;b__0".</summary>
    private static string OpName(Action backward)
    {
        string op = backward.Method.Name;
        return op.StartsWith('<') && op.IndexOf('>') is > 1 and var end ? op[1..end] : op;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var node in _nodes) node.BackwardFn = null;
        _nodes.Clear();
        if (_pool is not null) foreach (var array in _rented) _pool.Return(array);
        _rented.Clear();
        if (_current == this) _current = _previous;
    }
}
