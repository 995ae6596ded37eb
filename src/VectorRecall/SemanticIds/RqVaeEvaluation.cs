using VectorRecall.Numerics;

namespace VectorRecall.SemanticIds;

/// <summary>
/// How well a model's codes separate and cover: the collision rate of the items' plain
/// (nearest-codeword) codes, each level's utilisation and used codes, and the reconstruction error
/// (mean squared error per value of decode(Σq) against the input).
/// </summary>
public sealed record RqVaeEvaluation(double CollisionRate, double[] Utilization, int[] UsedCodes, double ReconstructionError)
{
    public static RqVaeEvaluation Of(RqVae model, Tensor items)
    {
        var latent = model.EncodeLatent(items);
        var quantized = new Tensor(latent.Rows, latent.Cols);
        var codes = new SemanticCodes(model.Quantizer.Encode(latent, quantized: quantized), model.Config.NumEmbList);
        var reconstruction = model.Decode(quantized);
        double error = 0;
        for (int i = 0; i < items.Rows; i++)
        {
            float d = TensorPrimitives.Distance(items.Row(i), reconstruction.Row(i));
            error += (double)d * d;
        }
        var used = Enumerable.Range(0, codes.Levels).Select(codes.UsedCodes).ToArray();
        return new RqVaeEvaluation(codes.CollisionRate, Enumerable.Range(0, codes.Levels).Select(codes.Utilization).ToArray(), used,
            error / ((double)items.Rows * items.Cols));
    }

    /// <summary>Mean utilisation over levels: the score <c>best_utilization</c> keeps.</summary>
    public double MeanUtilization => Utilization.Average();

    public override string ToString() =>
        $"collision {CollisionRate:P2}, utilisation {string.Join(" / ", Utilization.Select(u => u.ToString("P1", System.Globalization.CultureInfo.InvariantCulture)))}, reconstruction MSE {ReconstructionError:G4}";
}
