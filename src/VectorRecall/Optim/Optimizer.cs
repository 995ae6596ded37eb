using System.Numerics;
using VectorRecall.Autograd;

using VectorRecall.Numerics;

namespace VectorRecall.Optim;

/// <summary>
/// Updates parameters from their gradients (<c>torch.optim.Optimizer</c>). A row-sparse parameter
/// (an embedding table) is updated lazily: only the rows its gradient touched since the last
/// <see cref="ZeroGrad"/> are visited, and only their optimiser state moves, as SparseAdam does.
/// A dense parameter is updated whole.
/// </summary>
public abstract class Optimizer
{
    private readonly Dictionary<Parameter, float[][]> _state = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<Parameter, int> _steps = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<Parameter, double> _weightDecay = new(ReferenceEqualityComparer.Instance);

    /// <summary>
    /// An optimiser over parameter groups (<c>torch.optim</c>'s <c>param_groups</c>): a group without its own
    /// weight decay takes <paramref name="weightDecay"/>. A parameter listed twice is updated once, with its first group's settings.
    /// </summary>
    protected Optimizer(IEnumerable<ParameterGroup> groups, double learningRate, double weightDecay)
    {
        if (!(learningRate >= 0)) throw new ArgumentOutOfRangeException(nameof(learningRate), $"learning rate {learningRate} must be non-negative");
        if (!(weightDecay >= 0)) throw new ArgumentOutOfRangeException(nameof(weightDecay), $"weight decay {weightDecay} must be non-negative");
        var parameters = new List<Parameter>();
        foreach (var group in groups)
        {
            double decay = group.WeightDecay ?? weightDecay;
            if (!(decay >= 0)) throw new ArgumentOutOfRangeException(nameof(groups), $"a group's weight decay {decay} must be non-negative");
            foreach (var p in group.Parameters)
                if (_weightDecay.TryAdd(p, decay)) parameters.Add(p);
        }
        Parameters = parameters;
        if (Parameters.Count == 0) throw new ArgumentException("the optimiser was given no parameters");
        LearningRate = learningRate;
    }

    public IReadOnlyList<Parameter> Parameters { get; }
    public double LearningRate { get; set; }

    /// <summary>The weight decay of the parameter being updated (its group's).</summary>
    protected double WeightDecay { get; private set; }

    /// <summary>The weight decay a parameter is updated with.</summary>
    public double WeightDecayOf(Parameter parameter) => _weightDecay[parameter];

    /// <summary>How many arrays of optimiser state each parameter carries (momentum, second moment, …).</summary>
    protected abstract int StateCount { get; }

    /// <summary>
    /// Updates one contiguous run of a parameter: its weights and gradients, whose state lies at
    /// <c>state[k][offset ..]</c>; <paramref name="step"/> counts this parameter's updates from 1.
    /// </summary>
    protected abstract void Update(Span<float> w, ReadOnlySpan<float> g, float[][] state, int offset, int step);

    /// <summary>Called once before a parameter's runs are updated with <paramref name="step"/> (per-step constants go here; Update may run on several threads).</summary>
    protected virtual void Prepare(int step) { }

    public void Step() => Step(zeroGrad: false);

    /// <summary>
    /// <see cref="Step()"/> then <see cref="ZeroGrad"/> in one pass, as a training loop calls them: each gradient row is
    /// cleared right after its update has read it, while it is still in cache, instead of being fetched again. (A parameter
    /// the step passes over has no gradient to clear.)
    /// </summary>
    public void StepAndZeroGrad() => Step(zeroGrad: true);

    private void Step(bool zeroGrad)
    {
        foreach (var p in Parameters)
        {
            if (p.Grad is not { } grad) continue;
            if (p.RowSparse && p.TouchedRows.Count == 0) continue;
            if (!_state.TryGetValue(p, out var state))
            {
                state = new float[StateCount][];
                for (int i = 0; i < state.Length; i++) state[i] = new float[p.Value.Length];
                _state[p] = state;
            }
            int step = _steps[p] = _steps.GetValueOrDefault(p) + 1;
            WeightDecay = _weightDecay[p];
            Prepare(step);
            if (!p.RowSparse)
            {
                Update(p.Value.Span, grad.Span, state, 0, step);
                if (zeroGrad) p.ZeroGrad();
                continue;
            }
            var rows = p.TouchedRows;
            int chunks = Threads.ChunksFor((long)rows.Count * p.Value.Cols, rows.Count);
            // Touched rows are distinct, so the cores update disjoint rows.
            if (chunks == 1) UpdateRows(p, grad, state, step, 0, rows.Count, zeroGrad);
            else Parallel.For(0, chunks, Threads.Options, c => UpdateRows(p, grad, state, step, rows.Count * c / chunks, rows.Count * (c + 1) / chunks, zeroGrad));
            if (zeroGrad) p.ForgetTouchedRows();
        }
    }

    /// <summary>
    /// Updates touched rows [from, to) of a row-sparse parameter (clearing each gradient row after, when asked). The rows lie
    /// anywhere in tables of up to millions of rows, so each is a miss to memory in four arrays: the rows a few places ahead
    /// are prefetched so those misses overlap.
    /// </summary>
    private void UpdateRows(Parameter p, Tensor grad, float[][] state, int step, int from, int to, bool zeroGrad)
    {
        var rows = p.TouchedRows;
        int cols = p.Value.Cols;
        for (int i = from; i < to; i++)
        {
            if (i + Prefetch.RowsAhead < to)
            {
                int ahead = rows[i + Prefetch.RowsAhead];
                Prefetch.Lines(p.Value.Row(ahead));
                Prefetch.Lines(grad.Row(ahead));
                foreach (var s in state) Prefetch.Lines(s.AsSpan(ahead * cols, cols));
            }
            int row = rows[i];
            Update(p.Value.Row(row), grad.Row(row), state, row * cols, step);
            if (zeroGrad) grad.Row(row).Clear();
        }
    }

    public void ZeroGrad()
    {
        foreach (var p in Parameters) p.ZeroGrad();
    }

    /// <summary>
    /// The optimiser's state for a checkpoint (<c>optimizer.state_dict()</c>): for each parameter that
    /// has taken a step, keyed by its position in <see cref="Parameters"/>, its step count and state arrays.
    /// </summary>
    public Dictionary<int, (int Step, float[][] State)> StateDict()
    {
        var result = new Dictionary<int, (int, float[][])>();
        for (int i = 0; i < Parameters.Count; i++)
            if (_state.TryGetValue(Parameters[i], out var state)) result[i] = (_steps[Parameters[i]], state);
        return result;
    }

    /// <summary>Restores state saved by <see cref="StateDict"/> for the same parameters; every array must have its parameter's size.</summary>
    public void LoadStateDict(IReadOnlyDictionary<int, (int Step, float[][] State)> state)
    {
        foreach (var (i, (step, arrays)) in state)
        {
            if ((uint)i >= (uint)Parameters.Count) throw new InvalidDataException($"optimizer state for parameter {i}, but there are {Parameters.Count}");
            var p = Parameters[i];
            if (arrays.Length != StateCount || arrays.Any(a => a.Length != p.Value.Length) || step < 1)
                throw new InvalidDataException($"optimizer state for parameter {i} does not fit it ({arrays.Length} arrays, expected {StateCount} of {p.Value.Length} values, step {step})");
        }
        _state.Clear();
        _steps.Clear();
        foreach (var (i, (step, arrays)) in state)
        {
            _state[Parameters[i]] = arrays;
            _steps[Parameters[i]] = step;
        }
    }
}

/// <summary>SGD with optional momentum (PyTorch's form: v ← μv + g; w ← w − lr·v) and L2 weight decay.</summary>
public sealed class Sgd(IEnumerable<ParameterGroup> groups, double learningRate, double momentum = 0, double weightDecay = 0)
    : Optimizer(groups, learningRate, weightDecay)
{
    public Sgd(IEnumerable<Parameter> parameters, double learningRate, double momentum = 0, double weightDecay = 0)
        : this([new ParameterGroup(parameters)], learningRate, momentum, weightDecay) { }

    protected override int StateCount => momentum == 0 ? 0 : 1;

    protected override void Update(Span<float> w, ReadOnlySpan<float> g, float[][] state, int offset, int step)
    {
        float lr = (float)LearningRate, mu = (float)momentum, wd = (float)WeightDecay;
        for (int i = 0; i < w.Length; i++)
        {
            float d = g[i] + wd * w[i];
            if (mu != 0) d = state[0][offset + i] = mu * state[0][offset + i] + d;
            w[i] -= lr * d;
        }
    }
}

/// <summary>
/// Adam (Kingma &amp; Ba) with bias correction. <paramref name="decoupledWeightDecay"/> selects AdamW
/// (Loshchilov &amp; Hutter: w ← w − lr·λ·w, apart from the gradient); otherwise weight decay is L2 added to the gradient.
/// </summary>
public class Adam(IEnumerable<ParameterGroup> groups, double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
    double eps = 1e-8, double weightDecay = 0, bool decoupledWeightDecay = false) : Optimizer(groups, learningRate, weightDecay)
{
    public Adam(IEnumerable<Parameter> parameters, double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8, double weightDecay = 0, bool decoupledWeightDecay = false)
        : this([new ParameterGroup(parameters)], learningRate, beta1, beta2, eps, weightDecay, decoupledWeightDecay) { }

    protected override int StateCount => 2;

    private float _c1, _sqrtC2;

    protected override void Prepare(int step)
    {
        _c1 = (float)(1 - Math.Pow(beta1, step));
        _sqrtC2 = MathF.Sqrt((float)(1 - Math.Pow(beta2, step)));
    }

    protected override void Update(Span<float> w, ReadOnlySpan<float> g, float[][] state, int offset, int step)
    {
        var m = state[0].AsSpan(offset, w.Length); var v = state[1].AsSpan(offset, w.Length);
        float b1 = (float)beta1, b2 = (float)beta2, lr = (float)LearningRate, e = (float)eps, wd = (float)WeightDecay;
        float stepSize = lr / _c1, invSqrtC2 = 1f / _sqrtC2;
        float decay = decoupledWeightDecay ? 1f - lr * wd : 1f, l2 = decoupledWeightDecay ? 0f : wd;
        int i = 0;
        // Vector<float>: the widest the machine accelerates (AVX2 has no Vector512); the same operations in the same order as
        // the scalar loop, so both give the same weights.
        if (Vector.IsHardwareAccelerated)
        {
            var vb1 = new Vector<float>(b1); var vb1c = new Vector<float>(1 - b1);
            var vb2 = new Vector<float>(b2); var vb2c = new Vector<float>(1 - b2);
            var vDecay = new Vector<float>(decay); var vL2 = new Vector<float>(l2);
            var vStep = new Vector<float>(stepSize); var vInv = new Vector<float>(invSqrtC2); var vEps = new Vector<float>(e);
            int n = Vector<float>.Count;
            for (; i <= w.Length - n; i += n)
            {
                var wi = new Vector<float>(w.Slice(i, n));
                var gi = new Vector<float>(g.Slice(i, n)) + vL2 * wi;
                var mi = vb1 * new Vector<float>(m.Slice(i, n)) + vb1c * gi;
                var vi = vb2 * new Vector<float>(v.Slice(i, n)) + vb2c * gi * gi;
                mi.CopyTo(m.Slice(i));
                vi.CopyTo(v.Slice(i));
                (wi * vDecay - vStep * mi / (Vector.SquareRoot(vi) * vInv + vEps)).CopyTo(w.Slice(i));
            }
        }
        for (; i < w.Length; i++)
        {
            float gi = g[i] + l2 * w[i];
            m[i] = b1 * m[i] + (1 - b1) * gi;
            v[i] = b2 * v[i] + (1 - b2) * gi * gi;
            w[i] = w[i] * decay - stepSize * m[i] / (MathF.Sqrt(v[i]) * invSqrtC2 + e);
        }
    }
}

/// <summary>AdamW: Adam with decoupled weight decay (default λ = 0.01, as in PyTorch).</summary>
public sealed class AdamW(IEnumerable<ParameterGroup> groups, double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
    double eps = 1e-8, double weightDecay = 0.01)
    : Adam(groups, learningRate, beta1, beta2, eps, weightDecay, decoupledWeightDecay: true)
{
    public AdamW(IEnumerable<Parameter> parameters, double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0.01)
        : this([new ParameterGroup(parameters)], learningRate, beta1, beta2, eps, weightDecay) { }
}

/// <summary>Adagrad: per-element step lr / (√Σg² + ε).</summary>
public sealed class Adagrad(IEnumerable<ParameterGroup> groups, double learningRate = 1e-2, double eps = 1e-10, double weightDecay = 0)
    : Optimizer(groups, learningRate, weightDecay)
{
    public Adagrad(IEnumerable<Parameter> parameters, double learningRate = 1e-2, double eps = 1e-10, double weightDecay = 0)
        : this([new ParameterGroup(parameters)], learningRate, eps, weightDecay) { }

    protected override int StateCount => 1;

    protected override void Update(Span<float> w, ReadOnlySpan<float> g, float[][] state, int offset, int step)
    {
        var sum = state[0].AsSpan(offset, w.Length);
        float lr = (float)LearningRate, e = (float)eps, wd = (float)WeightDecay;
        for (int i = 0; i < w.Length; i++)
        {
            float gi = g[i] + wd * w[i];
            sum[i] += gi * gi;
            w[i] -= lr * gi / (MathF.Sqrt(sum[i]) + e);
        }
    }
}
