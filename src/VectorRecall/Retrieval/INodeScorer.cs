namespace VectorRecall.Retrieval;

/// <summary>The items query <c>q</c> of a batch must not get back.</summary>
public delegate ReadOnlySpan<int> ExcludedItems(int query);

/// <summary>Scores tree nodes for one query (higher is better). Called from several threads at once.</summary>
public interface INodeScorer
{
    void Score(ReadOnlySpan<float> query, ReadOnlySpan<int> nodes, Span<float> scores);
}
