using VectorRecall.Data;
using VectorRecall.Numerics;
using VectorRecall.Retrieval;
using VectorRecall.Towers;

namespace VectorRecall.Tdm;

/// <summary>A trained TDM model as a retriever: its user tower encodes users, beam search down its tree finds their top K.</summary>
public static class TdmRetriever
{
    /// <summary>Beam search down <paramref name="tree"/> scored by <paramref name="model"/>, <paramref name="beam"/> nodes wide by default.</summary>
    public static BeamSearchRetriever Create(TdmModel model, ItemTree tree, int beam) =>
        new("tdm", tree, model, model.Config.Dimension, tree.ItemCount, beam);

    /// <summary>User vectors ([users × dim]) from each user's profile and the latest of <paramref name="history"/> (a sequence encoder: zero rows for users without history).</summary>
    public static Tensor EncodeUsers(TdmModel model, RecDataset data, int[] users, UserItemLists history) => model.User is { } tower
        ? TowerEncoder.EncodeUsers(tower, UserBatch.Gather(users, data.UserFeatures, history, tower.Config.HistoryLength))
        : model.Sequence!.Latest(history, users);
}
