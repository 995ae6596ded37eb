using VectorRecall.Autograd;
using VectorRecall.Numerics;

namespace VectorRecall.Nn;

/// <summary>y = x·Wᵀ + b with W stored [out × in], as PyTorch stores it (so weights interchange).</summary>
public sealed class Linear : Layer
{
    public Linear(int inFeatures, int outFeatures, Rng rng, bool bias = true)
    {
        if (inFeatures <= 0 || outFeatures <= 0) throw new ArgumentOutOfRangeException(nameof(inFeatures), $"Linear({inFeatures}, {outFeatures}): sizes must be positive");
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        // PyTorch's default: U(−1/√in, 1/√in) for weight and bias.
        float bound = 1f / MathF.Sqrt(inFeatures);
        Weight = RegisterParameter("weight", new Parameter(Tensor.Uniform(rng, -bound, bound, outFeatures, inFeatures)));
        if (bias) Bias = RegisterParameter("bias", new Parameter(Tensor.Uniform(rng, -bound, bound, outFeatures)));
    }

    public int InFeatures { get; }
    public int OutFeatures { get; }
    public Parameter Weight { get; }
    public Parameter? Bias { get; }

    public override Variable Forward(Variable input) => Forward(input, columnMoments: false);

    /// <summary>The forward pass; with <paramref name="columnMoments"/> the output carries its column moments for a batch norm that follows.</summary>
    internal Variable Forward(Variable input, bool columnMoments)
    {
        if (input.Cols != InFeatures) throw new ArgumentException($"Linear({InFeatures}, {OutFeatures}): input has {input.Cols} features");
        return Ops.Linear(input, Weight, Bias, columnMoments);
    }

    /// <summary>
    /// The forward pass without a tape, for serving: <paramref name="rows"/> rows of <paramref name="x"/> into
    /// <paramref name="y"/>, on the calling thread (one or a few rows run as dot products, allocating nothing).
    /// </summary>
    internal void Apply(ReadOnlySpan<float> x, int rows, Span<float> y)
    {
        Gemm.Multiply(x, InFeatures, false, Weight.Value.Span, InFeatures, true, y, OutFeatures, rows, OutFeatures, InFeatures, threads: 1,
            bias: Bias is { } bias ? bias.Value.Span : default);
    }
}

/// <summary>A lookup table of <c>count</c> vectors. Its gradient is row-sparse unless told otherwise.</summary>
public sealed class Embedding : Module
{
    public Embedding(int count, int dim, Rng rng, bool sparse = true)
    {
        if (count <= 0 || dim <= 0) throw new ArgumentOutOfRangeException(nameof(count), $"Embedding({count}, {dim}): sizes must be positive");
        Weight = RegisterParameter("weight", new Parameter(Tensor.Randn(rng, 1f, count, dim), rowSparse: sparse));
    }

    public Parameter Weight { get; }
    public int Count => Weight.Rows;
    public int Dim => Weight.Cols;

    public Variable Forward(int[] ids) => Ops.Embedding(Weight, ids);
}

/// <summary>Pools bags of embeddings (sum or mean) without materialising them; see <see cref="Ops.EmbeddingBag"/>.</summary>
public sealed class EmbeddingBag : Module
{
    public EmbeddingBag(int count, int dim, BagMode mode, Rng rng, bool sparse = true)
    {
        if (count <= 0 || dim <= 0) throw new ArgumentOutOfRangeException(nameof(count), $"EmbeddingBag({count}, {dim}): sizes must be positive");
        Mode = mode;
        Weight = RegisterParameter("weight", new Parameter(Tensor.Randn(rng, 1f, count, dim), rowSparse: sparse));
    }

    public Parameter Weight { get; }
    public BagMode Mode { get; }

    public Variable Forward(int[] indices, int[] offsets) => Ops.EmbeddingBag(Weight, indices, offsets, Mode);
}

public sealed class BatchNorm1d : Layer
{
    public BatchNorm1d(int features, float momentum = 0.1f, float eps = 1e-5f)
    {
        Momentum = momentum;
        Eps = eps;
        Weight = RegisterParameter("weight", new Parameter(Tensor.Full(1f, features)));
        Bias = RegisterParameter("bias", new Parameter(Tensor.Zeros(features)));
        RunningMean = RegisterBuffer("running_mean", Tensor.Zeros(features));
        RunningVar = RegisterBuffer("running_var", Tensor.Full(1f, features));
    }

    public float Momentum { get; }
    public float Eps { get; }
    public Parameter Weight { get; }
    public Parameter Bias { get; }
    public Tensor RunningMean { get; }
    public Tensor RunningVar { get; }

    public override Variable Forward(Variable input) =>
        Ops.BatchNorm1d(input, Weight, Bias, RunningMean, RunningVar, Training, Momentum, Eps);

    /// <summary><paramref name="dropout"/>(ReLU(this(input))) as one op (<see cref="Ops.BatchNormRelu"/>), the dropout in this layer's mode; none when null.</summary>
    internal Variable ForwardRelu(Variable input, Dropout? dropout) =>
        Ops.BatchNormRelu(input, Weight, Bias, RunningMean, RunningVar, Training, dropout?.P ?? 0f, dropout?.Rng, Momentum, Eps);
}

public sealed class Dropout(float p, Rng rng) : Layer
{
    public float P { get; } = p is >= 0 and < 1 ? p : throw new ArgumentOutOfRangeException(nameof(p), $"dropout probability {p} is outside [0, 1)");

    /// <summary>Where the masks' seeds come from.</summary>
    internal Rng Rng { get; } = rng;

    public override Variable Forward(Variable input) => Ops.Dropout(input, P, Training, Rng);
}

/// <summary>PReLU with one learned slope shared, or one per feature; slopes start at 0.25 as in PyTorch.</summary>
public sealed class PRelu : Layer
{
    public PRelu(int numParameters = 1, float init = 0.25f) =>
        Alpha = RegisterParameter("weight", new Parameter(Tensor.Full(init, numParameters)));

    public Parameter Alpha { get; }

    public override Variable Forward(Variable input) => Ops.PRelu(input, Alpha);
}

public sealed class Relu : Layer
{
    public override Variable Forward(Variable input) => Ops.Relu(input);
}

public sealed class Sigmoid : Layer
{
    public override Variable Forward(Variable input) => Ops.Sigmoid(input);
}

public sealed class Tanh : Layer
{
    public override Variable Forward(Variable input) => Ops.Tanh(input);
}

/// <summary>Layers applied in order; children are named "0", "1", … as in PyTorch.</summary>
public sealed class Sequential : Layer
{
    private readonly List<Layer> _layers = [];

    public Sequential(params Layer[] layers)
    {
        foreach (var layer in layers) Append(layer);
    }

    public IReadOnlyList<Layer> Layers => _layers;

    public Sequential Append(Layer layer)
    {
        RegisterModule(_layers.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), layer);
        _layers.Add(layer);
        return this;
    }

    public override Variable Forward(Variable input)
    {
        var x = input;
        for (int i = 0; i < _layers.Count; i++)
        {
            // BatchNorm → ReLU (→ Dropout), the towers' hidden block, runs as one op: the same values and gradients in
            // two passes over the activations each way instead of up to seven (the layers, and so state dicts, stay as they are).
            // A dropout in another mode than the norm (one of them switched on its own) runs as its own layer.
            // A Linear whose output a training batch norm normalises takes the batch's column moments in its GEMM.
            if (_layers[i] is Linear linear && i + 1 < _layers.Count && _layers[i + 1] is BatchNorm1d { Training: true })
            {
                x = linear.Forward(x, columnMoments: true);
                continue;
            }
            if (_layers[i] is BatchNorm1d norm && i + 1 < _layers.Count && _layers[i + 1] is Relu)
            {
                var drop = i + 2 < _layers.Count && _layers[i + 2] is Dropout d && d.Training == norm.Training ? d : null;
                x = norm.ForwardRelu(x, drop);
                i += drop is null ? 1 : 2;
                continue;
            }
            x = _layers[i].Forward(x);
        }
        return x;
    }
}
