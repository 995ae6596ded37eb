using VectorRecall.Indexing;

namespace VectorRecall.Tests.Indexing;

public unsafe class VisitedListTests
{
    [Fact]
    public void MarkNewKeepsOnlyNodesNotMarkedBeforeInTheirOrderAndMarksThemAll()
    {
        var visited = new VisitedList(100);
        visited.Reset(100);
        Assert.True(visited.Visit(7));
        int[] links = [3, 7, 42, 3, 99, 100, -1, 5];   // 7 marked before; 3 twice; 100 and -1 beyond the list
        int* fresh = stackalloc int[links.Length];
        fixed (int* nodes = links)
        {
            int n = visited.MarkNew(nodes, links.Length, fresh);
            Assert.Equal([3, 42, 99, 5], new Span<int>(fresh, n).ToArray());
            // All are marked now: a second pass finds nothing new, and neither does Visit.
            Assert.Equal(0, visited.MarkNew(nodes, links.Length, fresh));
        }
        Assert.False(visited.Visit(42));
        Assert.True(visited.Visit(43));
    }

    [Fact]
    public void MarkNewStartsAfreshWithEachSearch()
    {
        var visited = new VisitedList(16);
        int[] links = [1, 2, 3];
        int* fresh = stackalloc int[links.Length];
        fixed (int* nodes = links)
            for (int search = 0; search < 70_000; search++)   // past the 16-bit epoch's wrap
            {
                visited.Reset(16);
                Assert.Equal(3, visited.MarkNew(nodes, links.Length, fresh));
            }
    }
}
