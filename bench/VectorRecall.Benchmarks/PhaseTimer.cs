using System.Diagnostics;
using VectorRecall.Autograd;

namespace VectorRecall.Benchmarks;

/// <summary>
/// Adds up the time of named phases of a training step, and of each op's backward pass once
/// <see cref="Start"/> has been called (after the warm-up steps), and prints them per step.
/// </summary>
internal sealed class PhaseTimer
{
    /// <summary>
    /// Steps run before timing starts. .NET compiles a method unoptimised first and again with full optimisation after about
    /// 30 calls: after 3 warm-up steps a two-tower step measured 136 ms, where fully optimised code (DOTNET_TieredCompilation=0)
    /// takes 106 ms, as the trainer's epochs do.
    /// </summary>
    public const int WarmupSteps = 40;

    private readonly Dictionary<string, double> _phases = [];
    private readonly Stopwatch _clock = new(), _total = new();

    public void Time(string name, Action phase)
    {
        _clock.Restart();
        phase();
        _phases[name] = _phases.GetValueOrDefault(name) + _clock.Elapsed.TotalMilliseconds;
    }

    /// <summary>Forgets the warm-up and starts counting, the ops' backward passes included.</summary>
    public void Start()
    {
        _phases.Clear();
        _total.Restart();
        Tape.BackwardProfile = [];
        Tape.ForwardProfile = [];
    }

    /// <summary>Prints each phase (and the slowest <paramref name="ops"/> backward ops) per step; returns the milliseconds per step.</summary>
    public double Print(int steps, int ops = int.MaxValue)
    {
        double ms = _total.Elapsed.TotalMilliseconds;
        foreach (var (name, t) in Tape.ForwardProfile!.OrderByDescending(kv => kv.Value).Take(ops)) _phases[$"  forward {name}"] = t;
        foreach (var (name, t) in Tape.BackwardProfile!.OrderByDescending(kv => kv.Value).Take(ops)) _phases[$"  backward {name}"] = t;
        Tape.BackwardProfile = null;
        Tape.ForwardProfile = null;
        foreach (var (name, t) in _phases) Console.WriteLine($"{name,-22} {t / steps,8:F2} ms/step  {100 * t / ms,5:F1}%");
        return ms / steps;
    }
}
