using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Spectre.Console;
using VectorRecall.Autograd;
using VectorRecall.IO;
using VectorRecall.Nn;
using VectorRecall.Numerics;
using VectorRecall.Optim;

namespace VectorRecall.Cli.Commands;

internal sealed record DemoOptions
{
    public int Samples { get; init; } = 8192;
    public int Features { get; init; } = 16;
    public int[] Hidden { get; init; } = [64, 64];
    public int Epochs { get; init; } = 20;
    public int BatchSize { get; init; } = 256;
    public double Lr { get; init; } = 3e-3;
    public ulong Seed { get; init; } = 42;
    public string Out { get; init; } = Path.Combine("checkpoints", "demo_mlp.safetensors");
}

/// <summary>
/// <c>vrecall demo</c>: what the numeric core does end to end, until the two-tower pipeline
/// takes its place — a regression MLP trained on data from a hidden teacher network with AdamW
/// and a warmup + cosine schedule, saved as safetensors, reloaded and checked output for output.
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var d = new DemoOptions();
        var samples = new Option<int>("--samples", "--num-samples", "--num_samples") { Description = "training examples to generate", DefaultValueFactory = _ => d.Samples };
        var features = new Option<int>("--features") { Description = "input features", DefaultValueFactory = _ => d.Features };
        var hidden = new Option<int[]>("--hidden") { Description = "hidden layer sizes, e.g. --hidden 64 64", DefaultValueFactory = _ => d.Hidden, AllowMultipleArgumentsPerToken = true };
        var epochs = new Option<int>("--epochs") { Description = "passes over the data", DefaultValueFactory = _ => d.Epochs };
        var batch = new Option<int>("--batch-size", "--batch_size") { Description = "examples per step", DefaultValueFactory = _ => d.BatchSize };
        var lr = new Option<double>("--lr") { Description = "peak learning rate (AdamW)", DefaultValueFactory = _ => d.Lr };
        var seed = new Option<ulong>("--seed") { Description = "random seed (data, initialisation, shuffling)", DefaultValueFactory = _ => d.Seed };
        var output = new Option<string>("--out") { Description = "checkpoint to write (safetensors)", DefaultValueFactory = _ => d.Out };
        var command = new Command("demo", "Train a small model with the numeric core, save it, reload it and check it (runs when vrecall is given no command).")
        {
            samples, features, hidden, epochs, batch, lr, seed, output,
        };
        command.SetAction((r, token) => RunAsync(new DemoOptions
        {
            Samples = r.GetValue(samples), Features = r.GetValue(features), Hidden = r.GetValue(hidden)!, Epochs = r.GetValue(epochs),
            BatchSize = r.GetValue(batch), Lr = r.GetValue(lr), Seed = r.GetValue(seed), Out = r.GetValue(output)!,
        }, token));
        return command;
    }

    public static Task<int> RunAsync(DemoOptions o, CancellationToken token) => CliErrors.Guard(() => Task.FromResult(Run(o, token)));

    private static int Run(DemoOptions o, CancellationToken token)
    {
        Validate(o);
        AnsiConsole.MarkupLineInterpolated($"[bold]VectorRecall[/] numeric core on {Environment.ProcessorCount} cores, GEMM kernel {Gemm.KernelName}");
        var rng = new Rng(o.Seed);

        // Data: inputs N(0, 1), targets from a random teacher MLP the student has to recover.
        var teacher = Mlp.Build([o.Features, 32, 1], new Rng(o.Seed ^ 0x7EAC4E2UL), new MlpOptions { Activation = Activation.Tanh });
        teacher.Eval();
        var x = Tensor.Randn(rng, 1f, o.Samples, o.Features);
        var y = teacher.Forward(new Variable(x)).Value;
        int valCount = Math.Max(1, o.Samples / 10), trainCount = o.Samples - valCount;
        AnsiConsole.MarkupLineInterpolated($"data: {trainCount} training and {valCount} validation examples, {o.Features} features, teacher MLP {o.Features}→32→1");

        int[] sizes = [o.Features, .. o.Hidden, 1];
        var model = Mlp.Build(sizes, rng, new MlpOptions { Activation = Activation.Relu });
        var optimizer = new AdamW(model.Parameters(), o.Lr, weightDecay: 1e-4);
        int stepsPerEpoch = (trainCount + o.BatchSize - 1) / o.BatchSize;
        var schedule = new LrSchedule(ScheduleKind.Cosine, o.Lr, o.Epochs * stepsPerEpoch, warmupSteps: Math.Min(stepsPerEpoch, o.Epochs * stepsPerEpoch));
        AnsiConsole.MarkupLineInterpolated($"model: MLP {string.Join("→", sizes)} ({model.ParameterCount:N0} parameters), AdamW, warmup + cosine schedule");

        var order = Enumerable.Range(0, trainCount).ToArray();
        var xb = new Tensor(o.BatchSize, o.Features);
        var yb = new Tensor(o.BatchSize, 1);
        var metadata = new Dictionary<string, string> { ["config"] = JsonSerializer.Serialize(new { model = "mlp", sizes, activation = "relu" }) };
        var table = new Table().AddColumns("epoch", "train_loss", "val_loss", "lr");
        var clock = Stopwatch.StartNew();
        int step = 0;
        AnsiConsole.Progress().AutoClear(false).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("training", maxValue: o.Epochs * stepsPerEpoch);
                for (int epoch = 1; epoch <= o.Epochs; epoch++)
                {
                    model.Train();
                    rng.Shuffle(order.AsSpan());
                    double lossSum = 0;
                    for (int b = 0; b < stepsPerEpoch; b++)
                    {
                        token.ThrowIfCancellationRequested();
                        int start = b * o.BatchSize, count = Math.Min(o.BatchSize, trainCount - start);
                        for (int i = 0; i < count; i++)
                        {
                            x.Row(order[start + i]).CopyTo(xb.Row(i));
                            yb[i, 0] = y[order[start + i], 0];
                        }
                        double lr = schedule.Apply(optimizer, step++);
                        optimizer.ZeroGrad();
                        using var tape = new Tape();
                        var loss = Ops.Mse(model.Forward(new Variable(xb.RowRange(0, count))), new Variable(yb.RowRange(0, count)));
                        tape.Backward(loss);
                        optimizer.Step();
                        lossSum += loss.Value[0] * count;
                        task.Increment(1);
                        task.Description = $"epoch {epoch}/{o.Epochs} loss {lossSum / (start + count):F4} lr {lr:G3}";
                    }
                    model.Eval();
                    float val = Ops.Mse(model.Forward(new Variable(x.RowRange(trainCount, valCount))), new Variable(y.RowRange(trainCount, valCount))).Value[0];
                    table.AddRow($"{epoch}", $"{lossSum / trainCount:F5}", $"{val:F5}", $"{optimizer.LearningRate:G3}");
                    Checkpoint.Save(model, o.Out, metadata);
                }
            });
        AnsiConsole.Write(table);
        double seconds = clock.Elapsed.TotalSeconds;
        AnsiConsole.MarkupLineInterpolated($"trained {o.Epochs} epochs in {seconds:F1} s ({(double)o.Epochs * trainCount / seconds:N0} examples/s)");

        // The checkpoint must give back the same function.
        var reloaded = Mlp.Build(sizes, new Rng(o.Seed + 1), new MlpOptions { Activation = Activation.Relu });
        var stored = Checkpoint.Load(reloaded, o.Out);
        reloaded.Eval();
        var probe = new Variable(x.RowRange(trainCount, valCount));
        bool same = model.Forward(probe).Value.ToArray().AsSpan().SequenceEqual(reloaded.Forward(probe).Value.ToArray());
        AnsiConsole.MarkupLineInterpolated($"checkpoint {o.Out} ({new FileInfo(o.Out).Length:N0} bytes, config {stored["config"]}) reloaded: outputs {(same ? "identical" : "DIFFER")}");
        return same ? 0 : 1;
    }

    private static void Validate(DemoOptions o)
    {
        if (o.Samples < 20) throw new ArgumentException($"--samples must be at least 20, got {o.Samples}");
        if (o.Features < 1) throw new ArgumentException($"--features must be positive, got {o.Features}");
        if (o.Hidden.Length == 0 || o.Hidden.Any(h => h < 1)) throw new ArgumentException("--hidden needs one or more positive sizes");
        if (o.Epochs < 1) throw new ArgumentException($"--epochs must be positive, got {o.Epochs}");
        if (o.BatchSize < 2) throw new ArgumentException($"--batch-size must be at least 2, got {o.BatchSize}");
        if (!(o.Lr > 0)) throw new ArgumentException($"--lr must be positive, got {o.Lr}");
    }
}
