using VectorRecall.Training;
using VectorRecall.Autograd;
using VectorRecall.Data;
using VectorRecall.Numerics;
using VectorRecall.Optim;
using VectorRecall.Towers;
using VectorRecall.TwoTower;

namespace VectorRecall.Benchmarks;

/// <summary>
/// <c>-- twotower [steps]</c>: times the phases of a two-tower training step at the design note's
/// default sizes (batch 1024, 10 negatives, 100k items): batch assembly, each tower's forward, the
/// loss, backward and the optimiser step, and prints samples/s.
/// </summary>
internal static class TrainingStepProfile
{
    public static void Run(string[] args)
    {
        int steps = args.Length > 0 ? int.Parse(args[0]) : 30;
        var data = SyntheticGenerator.Generate(new SyntheticOptions()).Dataset;
        var config = new TowerConfig
        {
            NumUsers = data.UserCount, NumItems = data.ItemCount, UserFeatures = data.UserFeatures.Cols, ItemFeatures = data.Items.FeatureCount,
            Categories = data.Items.CategoryCount, Tags = data.Items.TagCount,
        };
        var model = new TwoTowerModel(config, new Rng(1));
        var optimizer = new AdamW(model.Parameters(), 1e-3);
        var loss = new InfoNceLoss();
        var sampler = new NegativeSampler(SamplerKind.Uniform, data.Train.ItemCounts(data.ItemCount));
        var rng = new Rng(2);
        const int b = 1024, n = 10;
        var timer = new PhaseTimer();
        for (int s = -3; s < steps; s++)
        {
            if (s == 0) timer.Start();
            UserBatch ub = null!; ItemBatch ib = null!; int[] items = null!; float[] lqp = new float[b], lqn = new float[b * n];
            timer.Time("batch", () =>
            {
                var users = new int[b]; var cut = new int[b]; items = new int[b * (n + 1)];
                for (int r = 0; r < b; r++)
                {
                    int u; do u = rng.NextInt(data.UserCount); while (data.Train.CountOf(u) == 0);
                    int p = rng.NextInt(data.Train.CountOf(u));
                    users[r] = u; cut[r] = p; items[r] = data.Train.Of(u)[p];
                }
                sampler.Fill(items.AsSpan(b), rng);
                for (int j = 0; j < b * n; j++) lqn[j] = sampler.LogProbability(items[b + j]);
                ub = UserBatch.Gather(users, data.UserFeatures, data.Train, 20, cut);
                ib = ItemBatch.Gather(data.Items, items);
            });
            using var tape = new Tape(pooled: true);
            Variable u = null!, all = null!, l = null!;
            timer.Time("user forward", () => u = model.User.Forward(ub));
            timer.Time("item forward", () => all = model.Item.Forward(ib));
            timer.Time("loss", () => l = loss.Forward(u, Ops.SliceRows(all, 0, b), items.AsSpan(0, b), lqp, Ops.SliceRows(all, b, b * n), items.AsSpan(b), lqn));
            timer.Time("backward", () => tape.Backward(l));
            timer.Time("optimizer", () => { optimizer.Step(); optimizer.ZeroGrad(); });
        }
        double msPerStep = timer.Print(steps);
        Console.WriteLine($"total                  {msPerStep,8:F2} ms/step  {b / (msPerStep / 1000):N0} samples/s  ({500_000 / b} steps/epoch => {msPerStep * (500_000 / b) / 1000:F1} s/epoch)");
    }
}
