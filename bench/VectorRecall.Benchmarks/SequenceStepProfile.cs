using VectorRecall.Autograd;
using VectorRecall.Numerics;
using VectorRecall.Optim;
using VectorRecall.Towers;

namespace VectorRecall.Benchmarks;

/// <summary>
/// <c>-- sequence [steps] [items]</c>: times the phases of a sequence-encoder training step at its defaults (width 64,
/// 2 blocks, 50 positions, dropout 0.5, batches of 128 users, full softmax over 12,101 items as on Beauty) on generated
/// histories whose lengths follow Beauty's (most users short, a mean near 9 read positions): batch packing, the encoder's
/// forward, the loss (every item scored at every position), backward by op, and the optimiser step.
/// </summary>
internal static class SequenceStepProfile
{
    public static void Run(string[] args)
    {
        int steps = args.Length > 0 ? int.Parse(args[0]) : 30;
        int items = args.Length > 1 ? int.Parse(args[1]) : 12101;
        const int users = 128;
        var rng = new Rng(1);
        var encoder = new SequenceEncoder(new SequenceEncoderConfig { NumItems = items }, rng);
        encoder.Train();
        var optimizer = new AdamW(encoder.Parameters(), 1e-3, weightDecay: 0);
        var timer = new PhaseTimer();
        for (int s = -PhaseTimer.WarmupSteps; s < steps; s++)
        {
            if (s == 0) timer.Start();
            int[] tokens = null!, targets = null!;
            SequenceShape shape = null!;
            timer.Time("batch", () =>
            {
                // Lengths 2 + geometric(1/8), capped at the window plus one: Beauty-like, most histories a handful of items.
                var histories = new ReadOnlyMemory<int>[users];
                var next = new List<int>();
                for (int r = 0; r < users; r++)
                {
                    int length = 2;
                    while (length < encoder.Config.MaxLength + 1 && rng.NextDouble() > 1.0 / 8) length++;
                    var h = new int[length];
                    for (int t = 0; t < length; t++) h[t] = rng.NextInt(items);
                    histories[r] = h.AsMemory(0, length - 1);
                    next.AddRange(h.AsSpan(1, Math.Min(length - 1, encoder.Config.MaxLength)).ToArray());
                }
                (tokens, shape) = SequenceTokens.Of(histories, encoder.Config.MaxLength);
                targets = [.. next];
            });
            using var tape = new Tape(pooled: true);
            Variable outputs = null!, loss = null!;
            timer.Time("forward", () => outputs = encoder.Forward(tokens, shape));
            timer.Time("loss", () => loss = Ops.CrossEntropy(encoder.ScoreAllItems(outputs), targets));
            timer.Time("backward", () => tape.Backward(loss));
            timer.Time("optimizer", () => { optimizer.Step(); optimizer.ZeroGrad(); });
            if (s == 0) Console.WriteLine($"{shape.Rows:N0} positions in a batch of {users} users, {items:N0} items");
        }
        double msPerStep = timer.Print(steps, ops: 10);
        Console.WriteLine($"total                    {msPerStep,8:F2} ms/step");
    }
}
