namespace VectorRecall.Retrieval;

/// <summary>Scores tree nodes for one query (higher is better). Called from several threads at once.</summary>
public interface INodeScorer
{
    void Score(ReadOnlySpan<float> query, ReadOnlySpan<int> nodes, Span<float> scores);
}
