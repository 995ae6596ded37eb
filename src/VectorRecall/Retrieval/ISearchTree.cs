namespace VectorRecall.Retrieval;

/// <summary>
/// A tree beam search can walk: nodes are rows, each level one block of rows, each node's children
/// one run of rows on the next level, the items on the last level. TDM's item tree and the
/// semantic-id trie both have this shape.
/// </summary>
public interface ISearchTree
{
    /// <summary>Levels including the root's (level 0) and the leaves' (the last).</summary>
    int LevelCount { get; }
    int LevelStart(int level);
    int LevelSize(int level);
    int ChildStart(int node);
    int ChildCount(int node);
    /// <summary>The most children any node has.</summary>
    int MaxChildren { get; }
    /// <summary>The item on a leaf row.</summary>
    int LeafItem(int node);
}
