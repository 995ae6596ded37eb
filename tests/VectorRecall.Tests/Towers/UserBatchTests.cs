using VectorRecall.Autograd;
using VectorRecall.Data;
using VectorRecall.Numerics;
using VectorRecall.Towers;

namespace VectorRecall.Tests.Towers;

public class UserBatchTests
{
    private static readonly UserItemLists Lists = UserItemLists.FromLists([[10, 11, 12, 13, 14], [20], [30, 31]]);
    private static readonly Tensor NoFeatures = new(3, 0);

    [Fact]
    public void ChronologicalHistoryIsTheItemsBeforeTheCutoff()
    {
        var b = UserBatch.Gather([0, 0, 2], NoFeatures, Lists, historyLength: 2, cutoffs: [3, 0, 2]);
        Assert.Equal([0, 2, 2], b.HistoryOffsets);
        Assert.Equal([11, 12, 30, 31], b.HistoryItems);
    }

    [Fact]
    public void RecentItemsAreTheTailOfEachHistory()
    {
        var b = UserBatch.Gather([0, 1, 2], NoFeatures, Lists, historyLength: 4);
        var (items, offsets) = b.RecentItems(2);
        Assert.Equal([0, 2, 3], offsets);
        Assert.Equal([13, 14, 20, 30, 31], items);
    }

    [Fact]
    public void UnorderedHistoryIsOtherItemsRoundTheListWithoutTheTarget()
    {
        // User 0, target at position 1, start at 4: reads 14, 10, (skips 11), 12 — three of them.
        var b = UserBatch.GatherOthers([0, 1, 2, 0], NoFeatures, Lists, historyLength: 3, exclude: [1, 0, 0, 4], starts: [4, 0, 1, 0]);
        Assert.Equal([0, 3, 3, 4], b.HistoryOffsets);
        Assert.Equal([14, 10, 12, /* user 1: nothing else */ 31, /* user 0 without 14 */ 10, 11, 12], b.HistoryItems);
        for (int r = 0; r < 4; r++)
        {
            int end = r + 1 < 4 ? b.HistoryOffsets[r + 1] : b.HistoryItems.Length;
            Assert.DoesNotContain(Lists.Of(b.Ids[r])[new[] { 1, 0, 0, 4 }[r]], b.HistoryItems[b.HistoryOffsets[r]..end]);
        }
    }
}
