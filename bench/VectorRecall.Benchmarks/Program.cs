using BenchmarkDotNet.Running;
using VectorRecall.Benchmarks;

// `-- gemm [--rqvae|--sequence] [--cold] [--only TEXT] [--threads N] [--seconds S]` prints the GEMM throughput table, `-- twotower` the phases of a training step, `-- recall BUNDLE` batch recall throughput, `-- tree N [dim]` TDM tree build time, `-- beam [items] [dim] [beam] [hidden...]` TDM beam search ms per user, `-- rqvae [steps]` the phases of an RQ-VAE step, `-- sequence [steps] [items]` the phases of a sequence-encoder step, `-- tdm [steps] [ip|mlp]` the phases of a TDM step, `-- load URL` HTTP load on a running `vrecall serve`, `-- cluster BUNDLE [queries] [shards...]` sharded recall latency on in-process silos, `-- failover BUNDLE [shards] [seconds]` what clients see when a silo dies, `-- live BUNDLE [shards] [replicas] [items]` live item write throughput and visibility, `-- shard-recall BUNDLE [queries]` recall of one index against its shards at the same ef, `-- cold-items CHECKPOINT [users]` how well the item tower places items from their description alone, `-- writer-open BUNDLE [shards]` how long a shard writer takes to open its log, `-- spectral DATASET DIR RANK ε,… [fraction]` the spectral model per graph normalisation on validation, mirror and test splits; anything else goes to BenchmarkDotNet.
if (args.Length > 0 && args[0] == "gemm") GemmThroughput.Run(args[1..]);
else if (args.Length > 0 && args[0] == "spectral") SpectralNormalization.Run(args[1..]);
else if (args.Length > 0 && args[0] == "twotower") TrainingStepProfile.Run(args[1..]);
else if (args.Length > 0 && args[0] == "recall") RecallThroughput.Run(args[1..]);
else if (args.Length > 0 && args[0] == "tree") TreeBuildTiming.Run(args[1..]);
else if (args.Length > 0 && args[0] == "rqvae") RqVaeStepProfile.Run(args[1..]);
else if (args.Length > 0 && args[0] == "sequence") SequenceStepProfile.Run(args[1..]);
else if (args.Length > 0 && args[0] == "tdm") TdmStepProfile.Run(args[1..]);
else if (args.Length > 0 && args[0] == "load") LoadGenerator.Run(args[1..]);
else if (args.Length > 0 && args[0] == "encode") EncodeLatency.Run(args[1..]);
else if (args.Length > 0 && args[0] == "beam") BeamSearchTiming.Run(args[1..]);
else if (args.Length > 0 && args[0] == "cluster") ClusterLatency.Run(args[1..]);
else if (args.Length > 0 && args[0] == "failover") ClusterFailover.Run(args[1..]);
else if (args.Length > 0 && args[0] == "live") LiveItemThroughput.Run(args[1..]);
else if (args.Length > 0 && args[0] == "shard-recall") ShardRecall.Run(args[1..]);
else if (args.Length > 0 && args[0] == "cold-items") ColdItems.Run(args[1..]);
else if (args.Length > 0 && args[0] == "writer-open") WriterOpenTiming.Run(args[1..]);
else BenchmarkSwitcher.FromAssembly(typeof(GemmBenchmarks).Assembly).Run(args);
