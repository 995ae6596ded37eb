using VectorRecall.Data;
using VectorRecall.Numerics;
using VectorRecall.TwoTower;
using VectorRecall.Retrieval;
using VectorRecall.Towers;

namespace VectorRecall.Tdm;

/// <summary>
/// A trained TDM model as a retriever: encodes users with its user tower and finds their top K by
/// beam search down its tree, leaving out each user's <paramref name="exclude"/> items on the way.
/// </summary>
public sealed class TdmRetriever(TdmModel model, ItemTree tree, int beam, UserItemLists? exclude = null)
{
    public int Beam { get; } = beam >= 1 ? beam : throw new ArgumentOutOfRangeException(nameof(beam), $"--beam must be at least 1, got {beam}");

    /// <summary>User vectors ([users × dim]) from each user's profile and the latest of <paramref name="history"/>.</summary>
    public Tensor EncodeUsers(RecDataset data, int[] users, UserItemLists history) =>
        TowerEncoder.EncodeUsers(model.User, UserBatch.Gather(users, data.UserFeatures, history, model.Config.User.HistoryLength));

    /// <summary>A <see cref="UserBatchSearch"/>: beam search for each query row on all cores.</summary>
    public void Search(ReadOnlySpan<float> queries, ReadOnlySpan<int> users, int k, Span<long> ids, Span<float> scores, Span<int> counts) =>
        BeamSearch.SearchUsers(tree, model, model.Config.Dimension, Beam, exclude, queries, users, k, ids, scores, counts);
}
