using VectorRecall.Autograd;
using VectorRecall.Numerics;
using VectorRecall.Optim;
using VectorRecall.SemanticIds;

namespace VectorRecall.Benchmarks;

/// <summary>
/// <c>-- rqvae [steps] [dim]</c>: times the phases of an RQ-VAE training step at the design note's
/// sizes (batch 1024, layers 2048…64, e_dim 32, 3 × 256 codes) on random input: forward, backward
/// (by op) and the optimiser step, and the GEMM rate they imply.
/// </summary>
internal static class RqVaeStepProfile
{
    public static void Run(string[] args)
    {
        int steps = args.Length > 0 ? int.Parse(args[0]) : 20;
        int dim = args.Length > 1 ? int.Parse(args[1]) : 32;
        const int b = 1024;
        var rng = new Rng(1);
        var model = new RqVae(new RqVaeConfig { InDim = dim }, rng);
        var data = Tensor.Randn(rng, 0.15f, b, dim);
        model.Quantizer.InitializeByKMeans(model.EncodeLatent(data), 10, rng);
        var optimizer = new AdamW(model.Parameters(), 1e-3, weightDecay: 1e-4);
        var timer = new PhaseTimer();
        for (int s = -PhaseTimer.WarmupSteps; s < steps; s++)
        {
            if (s == 0) timer.Start();
            using var tape = new Tape(pooled: true);
            RqVaeOutput output = null!;
            timer.Time("forward", () => output = model.Forward(data));
            timer.Time("backward", () => tape.Backward(output.Loss));
            timer.Time("optimizer", () => { optimizer.Step(); optimizer.ZeroGrad(); });
        }
        double msPerStep = timer.Print(steps, ops: 8);
        // Multiply-adds per sample: every Linear forward, its weight gradient, and its input gradient except the first layer's.
        int[] sizes = [dim, .. model.Config.Layers, model.Config.EDim];
        double macs = 0;
        for (int i = 0; i + 1 < sizes.Length; i++) macs += (double)sizes[i] * sizes[i + 1];
        double flops = 2 * b * (3 * 2 * macs - 2 * (double)dim * sizes[1]);
        Console.WriteLine($"total                  {msPerStep,8:F2} ms/step  {flops / msPerStep / 1e6:F1} GFLOP/s over {flops / 1e9:F1} GFLOP per step; 9,922 items => {msPerStep * 10 / 1000:F2} s/epoch");
    }
}
