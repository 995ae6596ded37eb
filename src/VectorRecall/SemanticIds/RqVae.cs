using VectorRecall.Autograd;
using VectorRecall.Nn;
using VectorRecall.Numerics;

namespace VectorRecall.SemanticIds;

/// <summary>One forward pass: the reconstruction, the loss terms and each row's codes [rows × levels].</summary>
public sealed record RqVaeOutput(Variable Loss, Variable Reconstruction, Variable ReconstructionLoss, Variable QuantizationLoss, int[] Codes);

/// <summary>
/// Residual-quantised autoencoder: an MLP encoder compresses an item vector to e_dim, a
/// <see cref="ResidualQuantizer"/> replaces that by a sum of codewords (one per level, the item's
/// semantic id), and the mirror-image decoder reconstructs the input from it. Hidden layers are
/// Dropout → Linear → [BatchNorm] → ReLU; Linear weights start Xavier-normal, biases at zero.
/// Loss = reconstruction + quant_loss_weight × quantisation loss.
/// </summary>
public sealed class RqVae : Module
{
    public RqVae(RqVaeConfig config, Rng rng)
    {
        config.Validate();
        Config = config;
        var options = new MlpOptions { Activation = Activation.Relu, BatchNorm = config.BatchNorm, Dropout = config.Dropout, DropoutFirst = true };
        int[] down = [config.InDim, .. config.Layers, config.EDim];
        Encoder = RegisterModule("encoder", Mlp.Build(down, rng, options));
        Decoder = RegisterModule("decoder", Mlp.Build(down.Reverse().ToArray(), rng, options));
        Quantizer = RegisterModule("rq", new ResidualQuantizer(config.EDim, config.NumEmbList, config.Beta, rng));
        foreach (var net in new[] { Encoder, Decoder })
            foreach (var layer in net.Layers.OfType<Linear>())
            {
                Init.XavierNormal(layer.Weight.Value, rng);
                layer.Bias?.Value.Clear();
            }
    }

    public RqVaeConfig Config { get; }
    public Sequential Encoder { get; }
    public Sequential Decoder { get; }
    internal ResidualQuantizer Quantizer { get; }

    /// <summary>Encodes, quantises (levels with ε &gt; 0 by Sinkhorn when <paramref name="sinkhorn"/>) and decodes the rows of <paramref name="x"/>.</summary>
    public RqVaeOutput Forward(Variable x, bool sinkhorn = true)
    {
        if (x.Value.Rank != 2 || x.Cols != Config.InDim) throw new ArgumentException($"the RQ-VAE takes [rows × {Config.InDim}], got {Tensor.ShapeString(x.Shape)}");
        var z = Encoder.Forward(x);
        var q = Quantizer.Forward(z, sinkhorn ? Config.SkEpsilons : default, Config.SkIters);
        var reconstruction = Decoder.Forward(q.Quantized);
        var reconstructionLoss = Config.LossType == ReconstructionLoss.L1 ? Ops.L1(reconstruction, x) : Ops.Mse(reconstruction, x);
        var loss = Ops.Add(reconstructionLoss, Ops.Scale(q.Loss, Config.QuantLossWeight));
        return new RqVaeOutput(loss, reconstruction, reconstructionLoss, q.Loss, q.Codes);
    }

    /// <summary>Latent vectors [rows × e_dim] of <paramref name="x"/>, in evaluation mode, in batches, without recording.</summary>
    public Tensor EncodeLatent(Tensor x, int batchSize = 4096) => MapRows(Encoder, x, Config.InDim, Config.EDim, batchSize);

    /// <summary>Input-space vectors [rows × in_dim] for latent vectors (sums of codewords), in evaluation mode, without recording.</summary>
    public Tensor Decode(Tensor latent, int batchSize = 4096) => MapRows(Decoder, latent, Config.EDim, Config.InDim, batchSize);

    private Tensor MapRows(Sequential net, Tensor x, int inDim, int outDim, int batchSize)
    {
        if (x.Rank != 2 || x.Cols != inDim) throw new ArgumentException($"expected [rows × {inDim}], got {Tensor.ShapeString(x.Shape)}");
        bool training = Training;
        Eval();
        try
        {
            var result = new Tensor(x.Rows, outDim);
            Tape.NoGrad(() =>
            {
                for (int start = 0; start < x.Rows; start += batchSize)
                {
                    int n = Math.Min(batchSize, x.Rows - start);
                    net.Forward(x.RowRange(start, n)).Value.Span.CopyTo(result.RowRange(start, n).Span);
                }
                return 0;
            });
            return result;
        }
        finally { Train(training); }
    }
}
