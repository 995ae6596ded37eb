using VectorRecall.Data;
using VectorRecall.Numerics;
using VectorRecall.Retrieval;

namespace VectorRecall.Tdm;

/// <summary>How <see cref="TreeLearner"/> moves items.</summary>
public sealed record TreeLearningOptions
{
    /// <summary>Levels an item moves down per step (JTM's level gap d): each step chooses among up to branch^gap descendants.</summary>
    public int LevelGap { get; init; } = 1;
    /// <summary>An item's weight for a node averages over at most this many of its users (evenly spaced), which bounds the cost on popular items.</summary>
    public int MaxUsersPerItem { get; init; } = 64;

    public void Validate()
    {
        Settings.Check(LevelGap >= 1, nameof(LevelGap), $"must be at least 1, got {LevelGap}");
        Settings.Check(MaxUsersPerItem >= 1, nameof(MaxUsersPerItem), $"must be at least 1, got {MaxUsersPerItem}");
    }
}

/// <summary>
/// Joint tree learning's tree step (Zhu et al., 2019): with the model fixed, re-assign items to the
/// tree's leaves so that each item sits where the model scores its path highly for the users who
/// interacted with it. Top-down, <see cref="TreeLearningOptions.LevelGap"/> levels at a time, the
/// items under a node choose among its descendants that many levels below, weighing each by the mean
/// over the item's users of the summed scores of its ancestors on the levels stepped (a softmax per
/// level has one normaliser per user and level, so summed logits rank as summed log-probabilities).
/// Items choose in order of regret (best weight minus second best: what moving costs them), each
/// taking its best node with room; a node takes as many items as it has leaves, so the tree keeps
/// its shape and balance and only the items move. Two departures from the paper, both measured: an
/// item takes its own leaf embedding along, so only internal levels decide where it goes and the
/// model's item vectors survive the move; and the internal nodes restart as the means of their
/// children, as a built tree's do, since the trained ones describe the subtrees the items have left.
/// </summary>
public static class TreeLearner
{
    /// <summary>
    /// A tree of the same shape with the items re-assigned, each with its leaf embedding, internal nodes the means of their children. <paramref name="userVectors"/>
    /// row u is user u's query vector for <paramref name="scorer"/>; <paramref name="interactions"/> says who interacted with what.
    /// </summary>
    public static ItemTree Learn(ItemTree tree, INodeScorer scorer, Tensor userVectors, UserItemLists interactions, TreeLearningOptions options,
        CancellationToken cancel = default)
    {
        options.Validate();
        if (interactions.UserCount != userVectors.Rows)
            throw new ArgumentException($"{userVectors.Rows} user vectors for the interactions' {interactions.UserCount} users");
        int items = tree.ItemCount;
        var usersOf = UsersOfItems(interactions, items, options.MaxUsersPerItem);
        var leaves = LeavesBelow(tree);
        // Every item starts at the root and walks down in steps.
        var at = new int[items];
        for (int from = 0; from < tree.Depth; from = Math.Min(from + options.LevelGap, tree.Depth))
        {
            int to = Math.Min(from + options.LevelGap, tree.Depth);
            var groups = GroupBy(at, tree.LevelStart(from), tree.LevelSize(from));
            for (int g = 0; g < groups.Length; g++)
            {
                cancel.ThrowIfCancellationRequested();
                if (groups[g].Length > 0) Step(tree, scorer, userVectors, usersOf, leaves, tree.LevelStart(from) + g, from, to, groups[g], at);
            }
        }
        var codes = new long[items];
        for (int i = 0; i < items; i++) codes[i] = tree.Codes[at[i]];
        var learned = ItemTree.FromLeafCodes(tree.Branch, tree.Depth, codes, tree.Dimension);
        learned.SetLeafEmbeddings(tree.LeafEmbeddings(tree.Embeddings));
        return learned;
    }

    /// <summary>Moves <paramref name="members"/> (all under <paramref name="node"/>) to its descendants on level <paramref name="to"/>.</summary>
    private static void Step(ItemTree tree, INodeScorer scorer, Tensor users, int[][] usersOf, int[] leaves, int node, int from, int to, int[] members, int[] at)
    {
        // The subtree below the node down to level `to`, level by level; parent[j] indexes into the same list (−1: the node itself).
        var nodes = new List<int> { node };
        var parentOf = new List<int> { -1 };
        int first = 0;
        for (int level = from; level < to; level++)
        {
            int end = nodes.Count;
            for (int j = first; j < end; j++)
                for (int c = tree.ChildStart(nodes[j]); c < tree.ChildStart(nodes[j]) + tree.ChildCount(nodes[j]); c++)
                {
                    nodes.Add(c);
                    parentOf.Add(j);
                }
            first = end;
        }
        int candidates = nodes.Count - first;
        // Leaves are not scored: an item takes its own leaf embedding along, so its leaf score is the same on every leaf.
        int internalEnd = to == tree.Depth ? first : nodes.Count;
        var scored = nodes.Skip(1).Take(internalEnd - 1).ToArray();
        var parent = parentOf.ToArray();
        var weights = new float[members.Length * candidates];
        Parallel.For(0, members.Length, Threads.Options, () => (new float[scored.Length], new float[nodes.Count]), (m, _, buffers) =>
        {
            var (scores, path) = buffers;
            var w = weights.AsSpan(m * candidates, candidates);
            foreach (int u in usersOf[members[m]])
            {
                scorer.Score(users.Row(u), scored, scores);
                path[0] = 0;
                for (int j = 1; j < path.Length; j++) path[j] = (j < internalEnd ? scores[j - 1] : 0) + path[parent[j]];
                TensorPrimitives.Add(w, path.AsSpan(first, candidates), w);
            }
            return buffers;
        }, _ => { });

        // Each item's weights become means over its users, so an item with few users claims as loudly as a popular one;
        // then items in order of regret (best weight minus second best: what moving costs them) take their best node with room.
        var regret = new float[members.Length];
        var order = new int[members.Length];
        for (int m = 0; m < members.Length; m++)
        {
            var w = weights.AsSpan(m * candidates, candidates);
            TensorPrimitives.Multiply(w, 1f / Math.Max(1, usersOf[members[m]].Length), w);
            float best = float.NegativeInfinity, second = float.NegativeInfinity;
            foreach (float v in w)
                if (v > best) (best, second) = (v, best);
                else if (v > second) second = v;
            regret[m] = candidates > 1 ? second - best : 0;
            order[m] = m;
        }
        Array.Sort(regret, order);
        var room = new int[candidates];
        for (int c = 0; c < candidates; c++) room[c] = leaves[nodes[first + c]];
        foreach (int m in order)
        {
            var w = weights.AsSpan(m * candidates, candidates);
            int chosen = -1;
            for (int c = 0; c < candidates; c++)
                if (room[c] > 0 && (chosen < 0 || w[c] > w[chosen])) chosen = c;
            room[chosen]--;
            at[members[m]] = nodes[first + chosen];
        }
    }

    /// <summary>Each item's users, at most <paramref name="cap"/> of them, evenly spaced.</summary>
    private static int[][] UsersOfItems(UserItemLists interactions, int items, int cap)
    {
        var all = new List<int>[items];
        for (int i = 0; i < items; i++) all[i] = [];
        for (int u = 0; u < interactions.UserCount; u++)
            foreach (int item in interactions.Of(u))
                if ((uint)item < (uint)items) all[item].Add(u);
        var result = new int[items][];
        for (int i = 0; i < items; i++)
        {
            var list = all[i];
            result[i] = list.Count <= cap ? [.. list] : Enumerable.Range(0, cap).Select(j => list[(int)((long)j * list.Count / cap)]).ToArray();
        }
        return result;
    }

    /// <summary>How many leaves lie below each node (1 for a leaf).</summary>
    private static int[] LeavesBelow(ItemTree tree)
    {
        var count = new int[tree.NodeCount];
        for (int r = tree.NodeCount - 1; r >= 0; r--)
        {
            if (tree.ChildCount(r) == 0) count[r] = 1;
            if (r > 0) count[tree.Parent(r)] += count[r];
        }
        return count;
    }

    /// <summary>Items grouped by the level row they sit at (<paramref name="at"/> holds node rows).</summary>
    private static int[][] GroupBy(int[] at, int levelStart, int levelSize)
    {
        var lists = new List<int>[levelSize];
        for (int g = 0; g < levelSize; g++) lists[g] = [];
        for (int i = 0; i < at.Length; i++) lists[at[i] - levelStart].Add(i);
        return lists.Select(l => l.ToArray()).ToArray();
    }
}
