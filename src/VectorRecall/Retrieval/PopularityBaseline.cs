using VectorRecall.Data;
using VectorRecall.Numerics;

namespace VectorRecall.Retrieval;

/// <summary>The popularity floor as a pair of embedding tables, so any index ranks by it: every user [1], every item [its training count].</summary>
public static class PopularityBaseline
{
    public static (Tensor Users, Tensor Items) Vectors(UserItemLists train, int itemCount, int userCount)
    {
        var counts = train.ItemCounts(itemCount);
        var items = new Tensor(itemCount, 1);
        for (int i = 0; i < counts.Length; i++) items[i, 0] = counts[i];
        return (Tensor.Full(1f, userCount, 1), items);
    }
}
