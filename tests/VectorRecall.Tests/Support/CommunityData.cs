using VectorRecall.Data;
using VectorRecall.Numerics;

namespace VectorRecall.Tests;

/// <summary>Unordered data with community structure, where the interaction graph carries the signal.</summary>
internal static class CommunityData
{
    /// <summary>4 communities of 40 users and 30 items; each user chose 4 of its community's items and is tested on 4 others (validation held out of train).</summary>
    public static RecDataset Create()
    {
        var rng = new Rng(11);
        var train = new List<int>[160];
        var test = new List<int>[160];
        for (int u = 0; u < 160; u++)
        {
            int community = u / 40;
            var picks = Enumerable.Range(0, 30).OrderBy(_ => rng.NextInt(1 << 30)).Take(8).Select(j => community * 30 + j).ToList();
            train[u] = picks[..4];
            test[u] = picks[4..];
        }
        var empty = Enumerable.Range(0, 160).Select(_ => new List<int>()).ToArray();
        var ids = (int n) => Enumerable.Range(0, n).Select(i => (long)i).ToArray();
        return RecDataset.FromInteractions(new InteractionDataset("communities", ids(160), ids(120),
            UserItemLists.FromLists(train), UserItemLists.FromLists(empty), UserItemLists.FromLists(test), chronological: false));
    }
}
