using BenchmarkDotNet.Attributes;
using VectorRecall.Numerics;

namespace VectorRecall.Benchmarks;

/// <summary>One query against 100k rows of 128 dimensions, and top-K of the scores: the exact-search inner loop.</summary>
[MemoryDiagnoser]
public class KernelBenchmarks
{
    private const int Rows = 100_000, Dim = 128;
    private float[] _rows = null!, _query = null!, _scores = null!;
    private readonly long[] _ids = new long[1000];
    private readonly float[] _top = new float[1000];

    [Params(10, 500)]
    public int K { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Rng(1);
        _rows = Tensor.Randn(rng, 1f, Rows, Dim).ToArray();
        _query = Tensor.Randn(rng, 1f, Dim).ToArray();
        _scores = new float[Rows];
        Distances.DotMany(_query, _rows, _scores);
    }

    [Benchmark(Baseline = true)]
    public void DotManyScalar()
    {
        for (int r = 0; r < Rows; r++) _scores[r] = Distances.DotReference(_query, _rows.AsSpan(r * Dim, Dim));
    }

    [Benchmark]
    public void DotMany() => Distances.DotMany(_query, _rows, _scores);

    [Benchmark]
    public int TopKSelect() => TopK.Select(_scores, K, _ids, _top);
}
