using VectorRecall.Autograd;
using VectorRecall.Numerics;

namespace VectorRecall.Nn;

/// <summary>Layer normalisation over each row's features, γ = 1 and β = 0 at the start (PyTorch's <c>nn.LayerNorm</c>).</summary>
public sealed class LayerNorm : Layer
{
    public LayerNorm(int features, float eps = 1e-5f)
    {
        if (features <= 0) throw new ArgumentOutOfRangeException(nameof(features), $"LayerNorm({features}): size must be positive");
        Eps = eps;
        Weight = RegisterParameter("weight", new Parameter(Tensor.Full(1f, features)));
        Bias = RegisterParameter("bias", new Parameter(Tensor.Zeros(features)));
    }

    public float Eps { get; }
    public Parameter Weight { get; }
    public Parameter Bias { get; }

    public override Variable Forward(Variable input) => Ops.LayerNorm(input, Weight, Bias, Eps);
}

public sealed class Gelu : Layer
{
    public override Variable Forward(Variable input) => Ops.Gelu(input);
}

/// <summary>
/// Multi-head self-attention (<c>nn.MultiheadAttention</c> with batch-first rows): query, key and
/// value projections of the input, <see cref="Ops.Attention(Variable, Variable, Variable, SequenceShape, int, bool)"/> per head, and an output projection.
/// </summary>
public sealed class MultiHeadAttention : Module
{
    public MultiHeadAttention(int dim, int heads, Rng rng)
    {
        if (heads < 1 || dim % heads != 0) throw new ArgumentException($"MultiHeadAttention: {dim} features do not split into {heads} heads");
        Heads = heads;
        Query = RegisterModule("q", new Linear(dim, dim, rng));
        Key = RegisterModule("k", new Linear(dim, dim, rng));
        Value = RegisterModule("v", new Linear(dim, dim, rng));
        Out = RegisterModule("out", new Linear(dim, dim, rng));
    }

    public int Heads { get; }
    public Linear Query { get; }
    public Linear Key { get; }
    public Linear Value { get; }
    public Linear Out { get; }

    /// <summary>Attention of every position to the ones before it (and itself) when <paramref name="causal"/>, padding never attended to.</summary>
    public Variable Forward(Variable x, SequenceShape shape, bool causal) =>
        Out.Forward(Ops.Attention(Query.Forward(x), Key.Forward(x), Value.Forward(x), shape, Heads, causal));
}

/// <summary>
/// One transformer block: self-attention and a position-wise feed-forward network (Linear → GELU →
/// Linear), each behind a residual connection with dropout. Pre-norm (the default, as SASRec's
/// reference code) normalises each branch's input; post-norm normalises after each residual sum.
/// </summary>
public sealed class TransformerBlock : Module
{
    private readonly Rng _rng;

    public TransformerBlock(int dim, int heads, int feedForward, float dropout, bool preNorm, Rng rng)
    {
        if (dropout is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(dropout), $"dropout {dropout} is outside [0, 1)");
        _rng = rng;
        DropoutRate = dropout;
        PreNorm = preNorm;
        Attention = RegisterModule("attention", new MultiHeadAttention(dim, heads, rng));
        AttentionNorm = RegisterModule("attention_norm", new LayerNorm(dim));
        FeedForward = RegisterModule("ffn", new Sequential(new Linear(dim, feedForward, rng), new Gelu(), new Dropout(dropout, rng), new Linear(feedForward, dim, rng)));
        FeedForwardNorm = RegisterModule("ffn_norm", new LayerNorm(dim));
    }

    public float DropoutRate { get; }
    public bool PreNorm { get; }
    public MultiHeadAttention Attention { get; }
    public LayerNorm AttentionNorm { get; }
    public Sequential FeedForward { get; }
    /// <summary>The feed-forward network's first and last Linear (what a forward-only path multiplies by).</summary>
    internal Linear FeedForwardIn => (Linear)FeedForward.Layers[0];
    internal Linear FeedForwardOut => (Linear)FeedForward.Layers[^1];
    public LayerNorm FeedForwardNorm { get; }

    public Variable Forward(Variable x, SequenceShape shape, bool causal)
    {
        Variable Drop(Variable v) => Ops.Dropout(v, DropoutRate, Training, _rng);
        if (PreNorm)
        {
            var h = Ops.Add(x, Drop(Attention.Forward(AttentionNorm.Forward(x), shape, causal)));
            return Ops.Add(h, Drop(FeedForward.Forward(FeedForwardNorm.Forward(h))));
        }
        var a = AttentionNorm.Forward(Ops.Add(x, Drop(Attention.Forward(x, shape, causal))));
        return FeedForwardNorm.Forward(Ops.Add(a, Drop(FeedForward.Forward(a))));
    }
}
