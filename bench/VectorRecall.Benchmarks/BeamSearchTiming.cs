using System.Diagnostics;
using VectorRecall.Numerics;
using VectorRecall.Retrieval;
using VectorRecall.Tdm;
using VectorRecall.Towers;

namespace VectorRecall.Benchmarks;

/// <summary>
/// <c>-- beam [items] [dim] [beam] [hidden...]</c>: milliseconds per user of TDM beam search on one thread (default: Beauty's
/// 12,101 items, 64-d, beam 100, K 50), for the inner product, for MLP scorers of a few widths on every level, and for
/// an inner-product route whose leaves an MLP of the same widths ranks (<c>tdm fit</c>'s leaf scorer). Weights are random: the work does not depend on them.
/// </summary>
internal static class BeamSearchTiming
{
    public static void Run(string[] args)
    {
        int items = args.Length > 0 ? int.Parse(args[0]) : 12_101;
        int dim = args.Length > 1 ? int.Parse(args[1]) : 64;
        int beam = args.Length > 2 ? int.Parse(args[2]) : 100;
        int[][] hiddens = args.Length > 3 ? [args[3..].Select(int.Parse).ToArray()] : [[400, 200, 100], [128, 64], [64, 32]];
        const int users = 1000, k = 50;
        Threads.Count = 1;
        var rng = new Rng(3);
        var tree = TreeBuilder.Build(Tensor.Randn(rng, 1f, items, dim), new TreeBuildOptions());
        var queries = Tensor.Randn(rng, 1f, users, dim);
        var user = new TowerConfig { NumUsers = 1, NumItems = items, EmbeddingDim = dim };
        Console.WriteLine($"{items:N0} items, {dim}-d, tree of {tree.LevelCount} levels, beam {beam}, K {k}, {users} users on one thread");
        Time("inner product", TdmModel(user, tree, NodeScorerKind.InnerProduct, [1]), tree, queries, beam, k);
        foreach (var hidden in hiddens)
        {
            Time($"MLP {string.Join("-", hidden)}", TdmModel(user, tree, NodeScorerKind.Mlp, hidden), tree, queries, beam, k);
            Time($"leaf MLP {string.Join("-", hidden)}", TdmModel(user, tree, NodeScorerKind.LeafMlp, hidden), tree, queries, beam, k);
        }
    }

    private static TdmModel TdmModel(TowerConfig user, ItemTree tree, NodeScorerKind scorer, int[] hidden)
    {
        var model = new TdmModel(new TdmConfig { User = user, Nodes = tree.NodeCount, Scorer = scorer, MlpHidden = hidden }, new Rng(1));
        tree.Embeddings.Span.CopyTo(model.Nodes.Weight.Value.Span);
        return model;
    }

    private static void Time(string name, TdmModel model, ItemTree tree, Tensor queries, int beam, int k)
    {
        var retriever = TdmRetriever.Create(model, tree, beam);
        int n = queries.Rows;
        var ids = new long[n * k];
        var scores = new float[n * k];
        // One user at a time: the per-query search.
        retriever.Search(queries.Row(0), k, ids, scores);
        var clock = Stopwatch.StartNew();
        for (int q = 0; q < n; q++) retriever.Search(queries.Row(q), k, ids.AsSpan(q * k, k), scores.AsSpan(q * k, k));
        double single = clock.Elapsed.TotalMilliseconds / n;
        Console.WriteLine($"  {name,-20} one at a time: {single:F2} ms per user");
    }
}
