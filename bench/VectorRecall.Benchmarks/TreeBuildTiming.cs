using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using System.Diagnostics;
using VectorRecall.Numerics;
using VectorRecall.Tdm;

namespace VectorRecall.Benchmarks;

/// <summary>
/// <c>-- tree N [dim] [parallel]</c>: seconds to build a balanced k-means TDM tree over N synthetic
/// items (clustered Gaussian vectors, so the splits have structure to find), and the same on one core.
/// </summary>
internal static class TreeBuildTiming
{
    public static void Run(string[] args)
    {
        int n = args.Length > 0 ? int.Parse(args[0]) : 100_000;
        int dim = args.Length > 1 ? int.Parse(args[1]) : 128;
        int parallel = args.Length > 2 ? int.Parse(args[2]) : Threads.Count;
        var rng = new Rng(5);
        var centres = Tensor.Randn(rng, 1f, 256, dim);
        var items = Tensor.Randn(rng, 0.5f, n, dim);
        for (int i = 0; i < n; i++) TensorPrimitives.Add(items.Row(i), centres.Row(rng.NextInt(256)), items.Row(i));
        foreach (int cores in parallel > 1 ? new[] { parallel, 1 } : [1])
        {
            var clock = Stopwatch.StartNew();
            Threads.Count = cores;
            var tree = TreeBuilder.Build(items, new TreeBuildOptions());
            Console.WriteLine($"{n:N0} items x {dim}: tree of {tree.NodeCount:N0} nodes on {tree.LevelCount} levels built in {clock.Elapsed.TotalSeconds:F1} s on {cores} core(s)");
        }
    }
}
