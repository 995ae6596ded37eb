using BenchmarkDotNet.Running;
using VectorRecall.Benchmarks;

// `-- gemm` prints the GEMM throughput table; anything else goes to BenchmarkDotNet.
if (args.Length > 0 && args[0] == "gemm") GemmThroughput.Run(args[1..]);
else BenchmarkSwitcher.FromAssembly(typeof(GemmBenchmarks).Assembly).Run(args);
