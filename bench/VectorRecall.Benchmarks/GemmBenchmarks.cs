using BenchmarkDotNet.Attributes;
using VectorRecall.Numerics;

namespace VectorRecall.Benchmarks;

/// <summary>BenchmarkDotNet view of the same shapes: <c>-- --filter *GemmBenchmarks*</c>.</summary>
[MemoryDiagnoser]
public class GemmBenchmarks
{
    private Tensor _a = null!, _b = null!, _c = null!;

    public static IEnumerable<GemmShape> Shapes => GemmShape.TwoTower;

    [ParamsSource(nameof(Shapes))]
    public GemmShape Shape { get; set; } = null!;

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Rng(1);
        var s = Shape;
        _a = Tensor.Randn(rng, 1f, s.TransA ? s.K : s.M, s.TransA ? s.M : s.K);
        _b = Tensor.Randn(rng, 1f, s.TransB ? s.N : s.K, s.TransB ? s.K : s.N);
        _c = new Tensor(s.M, s.N);
    }

    [Benchmark]
    public void Multiply() => Gemm.Multiply(_a, Shape.TransA, _b, Shape.TransB, _c, threads: Threads);
}
