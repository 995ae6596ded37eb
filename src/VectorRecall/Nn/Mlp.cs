using VectorRecall.Numerics;

namespace VectorRecall.Nn;

public enum Activation { Relu, PRelu, Sigmoid, Tanh, None }

/// <summary>Options for <see cref="Mlp.Build"/>.</summary>
public sealed record MlpOptions
{
    public Activation Activation { get; init; } = Activation.Relu;
    public bool BatchNorm { get; init; }
    public float Dropout { get; init; }
    /// <summary>Whether the last layer also gets normalisation, activation and dropout.</summary>
    public bool ActivateLast { get; init; }
    /// <summary>Dropout before each Linear (RQ-VAE's order) instead of after the activation.</summary>
    public bool DropoutFirst { get; init; }
    /// <summary>Whether the last Linear has a bias.</summary>
    public bool LastBias { get; init; } = true;
}

/// <summary>Builds multi-layer perceptrons: for each consecutive pair of sizes, Linear → [BatchNorm] → activation → [Dropout].</summary>
public static class Mlp
{
    public static Sequential Build(IReadOnlyList<int> sizes, Rng rng, MlpOptions? options = null)
    {
        options ??= new MlpOptions();
        if (sizes.Count < 2) throw new ArgumentException($"an MLP needs at least an input and an output size, got [{string.Join(", ", sizes)}]");
        var net = new Sequential();
        for (int i = 0; i + 1 < sizes.Count; i++)
        {
            bool last = i + 2 == sizes.Count;
            bool hidden = !last || options.ActivateLast;
            if (hidden && options.DropoutFirst && options.Dropout > 0) net.Append(new Dropout(options.Dropout, rng));
            net.Append(new Linear(sizes[i], sizes[i + 1], rng, bias: !last || options.LastBias));
            if (!hidden) continue;
            if (options.BatchNorm) net.Append(new BatchNorm1d(sizes[i + 1]));
            switch (options.Activation)
            {
                case Activation.Relu: net.Append(new Relu()); break;
                case Activation.PRelu: net.Append(new PRelu()); break;
                case Activation.Sigmoid: net.Append(new Sigmoid()); break;
                case Activation.Tanh: net.Append(new Tanh()); break;
            }
            if (!options.DropoutFirst && options.Dropout > 0) net.Append(new Dropout(options.Dropout, rng));
        }
        return net;
    }
}
