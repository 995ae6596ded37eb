using System.Globalization;
using System.Text.Json;

namespace VectorRecall.Data;

/// <summary>
/// The external ids of users or items, by row: whatever the data gave — integers or strings — kept end to end, from the input
/// file through bundles to HTTP answers. An id is held as its text; one that is a canonical integer (no sign but '-', no
/// leading zero, within 64 bits) is a number, and JSON writes it as one, so <c>100846</c> and <c>"u17"</c> both come back
/// as they went in. Lookups take the text or the number.
/// </summary>
public sealed class IdMap
{
    private readonly List<string> _keys;
    private readonly Dictionary<string, int> _rows;
    private int _numeric;   // how many keys are numbers
    private System.Collections.Concurrent.ConcurrentDictionary<int, string>? _live;   // rows past the map's own (NameLiveRow)

    public IdMap() : this(0) { }

    private IdMap(int capacity)
    {
        _keys = new List<string>(capacity);
        _rows = new Dictionary<string, int>(capacity, StringComparer.Ordinal);
    }

    /// <summary>Integer ids, row i = <paramref name="ids"/>[i] (duplicates refused).</summary>
    public static IdMap FromNumbers(ReadOnlySpan<long> ids)
    {
        var map = new IdMap(ids.Length);
        foreach (long id in ids) map.AddNew(KeyOf(id));
        return map;
    }

    /// <summary>Ids as text, row i = <paramref name="keys"/>[i] (duplicates and empty ids refused).</summary>
    public static IdMap FromKeys(IEnumerable<string> keys)
    {
        var map = new IdMap();
        foreach (string key in keys) map.AddNew(key);
        return map;
    }

    /// <summary>Rows 0 .. <paramref name="count"/> − 1 as their own ids (synthetic data, bundles written before id maps).</summary>
    public static IdMap Sequential(int count)
    {
        var map = new IdMap(count);
        for (int i = 0; i < count; i++) map.AddNew(KeyOf(i));
        return map;
    }

    /// <summary>Integer ids as a map, so that code holding a <c>long[]</c> of ids passes it where a map is asked for.</summary>
    public static implicit operator IdMap(long[] ids) => FromNumbers(ids);

    public int Count => _keys.Count;

    /// <summary>The id of a row, as text (a row past <see cref="Count"/> is one named by <see cref="NameLiveRow"/>).</summary>
    public string this[int row] => (uint)row < (uint)_keys.Count ? _keys[row] : LiveKey(row);

    /// <summary>
    /// Names a row past the map's own: an item added while serving (a cluster's live item), whose row the shard that owns
    /// it chose. Safe beside readers and other namers; the map's own rows, and a live row once named, keep their ids.
    /// </summary>
    public void NameLiveRow(int row, string key)
    {
        if (row < _keys.Count) throw new ArgumentOutOfRangeException(nameof(row), $"row {row} is one of the map's own {_keys.Count}");
        if (string.IsNullOrEmpty(key)) throw new ArgumentException("an id is empty", nameof(key));
        if (_live is null) Interlocked.CompareExchange(ref _live, new(), null);
        _live.TryAdd(row, key);
    }

    private string LiveKey(int row) =>
        _live is not null && _live.TryGetValue(row, out string? key) ? key : throw new ArgumentOutOfRangeException(nameof(row), $"row {row} is not in this map of {_keys.Count} ids");

    /// <summary>Whether every id is an integer (then <see cref="ToNumbers()"/> gives them, and files store them as int64).</summary>
    public bool AllNumeric => _numeric == _keys.Count;

    /// <summary>The row of an id, adding it when new (readers build maps in order of first appearance).</summary>
    public int Intern(string key)
    {
        if (_rows.TryGetValue(key, out int row)) return row;
        return AddNew(key);
    }

    /// <summary>The row of an id given as text (an integer's canonical text finds it whether it was read as text or number).</summary>
    public bool TryGetRow(string key, out int row) => _rows.TryGetValue(key, out row);

    /// <summary>The row of an integer id (its canonical text looked up without making a string).</summary>
    public bool TryGetRow(long id, out int row)
    {
        Span<char> key = stackalloc char[MaxNumberLength];
        id.TryFormat(key, out int length, default, CultureInfo.InvariantCulture);
        return _rows.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(key[..length], out row);
    }

    /// <summary>Whether a row's id is an integer, and which.</summary>
    public bool TryGetNumber(int row, out long id) => IsNumber(this[row], out id);

    /// <summary>Every id as an integer; refused when some id is not one.</summary>
    public long[] ToNumbers()
    {
        var ids = new long[_keys.Count];
        for (int i = 0; i < ids.Length; i++) ids[i] = Number(i);
        return ids;
    }

    /// <summary>The ids of <paramref name="rows"/> as integers; refused when one is not.</summary>
    public long[] ToNumbers(ReadOnlySpan<int> rows)
    {
        var ids = new long[rows.Length];
        for (int i = 0; i < ids.Length; i++) ids[i] = Number(rows[i]);
        return ids;
    }

    private long Number(int row) => IsNumber(this[row], out long id) ? id : throw new InvalidOperationException($"id '{this[row]}' (row {row}) is not an integer");

    /// <summary>Writes a row's id as a JSON number when it is an integer, else as a string.</summary>
    public void WriteValue(Utf8JsonWriter writer, int row) => WriteKey(writer, this[row]);

    /// <summary>Writes every id in row order to <paramref name="path"/> as a JSON array (the file form of a map whose ids are not all integers), in one step.</summary>
    public void SaveJson(string path) => VectorRecall.IO.AtomicFile.Write(path, s =>
    {
        using var writer = new Utf8JsonWriter(s);
        writer.WriteStartArray();
        for (int i = 0; i < Count; i++) WriteValue(writer, i);
        writer.WriteEndArray();
    });

    /// <summary>Writes an id given as text: a JSON number when it is an integer's canonical text, else a string.</summary>
    public static void WriteKey(Utf8JsonWriter writer, string key)
    {
        if (IsNumber(key, out long id)) writer.WriteNumberValue(id);
        else writer.WriteStringValue(key);
    }

    /// <summary>The canonical text of an integer id, the form <see cref="TryGetRow(string, out int)"/> looks up.</summary>
    public static string KeyOf(long id) => id.ToString(CultureInfo.InvariantCulture);

    private int AddNew(string key)
    {
        if (string.IsNullOrEmpty(key)) throw new ArgumentException("an id is empty");
        int row = _keys.Count;
        if (!_rows.TryAdd(key, row)) throw new ArgumentException($"id '{key}' appears twice");
        _keys.Add(key);
        if (IsNumber(key, out _)) _numeric++;
        return row;
    }

    /// <summary>Characters of the longest integer's text (−9223372036854775808).</summary>
    private const int MaxNumberLength = 20;

    /// <summary>
    /// Canonical integer text: what <see cref="long.ToString()"/> writes, so that text and number name one id. Compared on
    /// the stack: the service asks this of every item id it writes.
    /// </summary>
    private static bool IsNumber(string key, out long id)
    {
        Span<char> canonical = stackalloc char[MaxNumberLength];
        return long.TryParse(key, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out id)
            && id.TryFormat(canonical, out int length, default, CultureInfo.InvariantCulture) && key.AsSpan().SequenceEqual(canonical[..length]);
    }
}
