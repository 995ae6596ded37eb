namespace VectorRecall.Retrieval;

/// <summary>
/// What one beam search reached (<see cref="BeamSearch.Trace"/>): for each level, the nodes it scored
/// there and their scores. Reused across searches; it grows to the largest walk and then allocates nothing.
/// </summary>
public sealed class BeamTrace
{
    private int[] _nodes = [], _offsets = [];
    private float[] _scores = [];
    private int _count;

    /// <summary>The nodes scored on <paramref name="level"/> (empty where the search took the level whole or had not begun).</summary>
    public ReadOnlySpan<int> Nodes(int level) => _nodes.AsSpan(_offsets[level], _offsets[level + 1] - _offsets[level]);

    /// <summary>Their scores, in the same order.</summary>
    public ReadOnlySpan<float> Scores(int level) => _scores.AsSpan(_offsets[level], _offsets[level + 1] - _offsets[level]);

    internal void Reset(int levels, int perLevel)
    {
        if (_offsets.Length < levels + 1) _offsets = new int[levels + 1];
        if (_nodes.Length < levels * perLevel) { _nodes = new int[levels * perLevel]; _scores = new float[levels * perLevel]; }
        Array.Clear(_offsets);
        _count = 0;
    }

    /// <summary>Records a level's nodes; levels arrive top-down, and the ones skipped stay empty.</summary>
    internal void Record(int level, ReadOnlySpan<int> nodes, ReadOnlySpan<float> scores)
    {
        nodes.CopyTo(_nodes.AsSpan(_count));
        scores.CopyTo(_scores.AsSpan(_count));
        _count += nodes.Length;
        for (int l = level + 1; l < _offsets.Length; l++) _offsets[l] = _count;
    }
}
