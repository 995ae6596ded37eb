namespace VectorRecall.Retrieval;

/// <summary>
/// A node scorer that can score the candidates of many queries in one call, where that is cheaper than
/// one call per query (an MLP scorer: one GEMM per layer for all of them). Beam search then walks a batch of
/// queries level by level (<see cref="BeamSearch.SearchBatch"/>).
/// </summary>
public interface IBatchNodeScorer : INodeScorer
{
    /// <summary>Whether level-by-level batches pay for this scorer (false: the per-query search is used).</summary>
    bool PrefersBatches { get; }

    /// <summary>
    /// scores[p] = the score of node <paramref name="nodes"/>[p] for query <paramref name="owner"/>[p], a row of
    /// <paramref name="queries"/> (each <paramref name="dim"/> wide). Runs on the calling thread.
    /// </summary>
    void ScoreBatch(ReadOnlySpan<float> queries, int dim, ReadOnlySpan<int> owner, ReadOnlySpan<int> nodes, Span<float> scores);
}
