using System.Buffers;
using System.Text.Json;
using VectorRecall.Data;
using VectorRecall.IO;
using VectorRecall.Serving;
using VectorRecall.Towers;

namespace VectorRecall.Server;

/// <summary>
/// One user to recall for: the id, and optional profile features and recent item ids (oldest first) that replace the stored
/// ones. Ids are held as text: a JSON integer as its canonical digits, a JSON string as given (the bundle's id maps hold both so).
/// </summary>
public sealed record UserRequest(string UserId, float[]? Features, string[]? History);

/// <summary>
/// <c>POST /v1/recall</c>: one user, <c>top_k</c> items, and optionally this search's width <c>ef_search</c> and an HNSW
/// walk's <c>search_patience</c> (null: not given) — as sent: the server checks them against its caps — and
/// <c>allow_partial</c> (a cluster with a shard down answers from the others, flagged, instead of 503).
/// </summary>
public sealed record RecallRequest(UserRequest User, long TopK, bool ExcludeSeen, long? EfSearch = null, bool AllowPartial = false, long? SearchPatience = null);

/// <summary><c>POST /v1/recall/batch</c>: many users, the same <c>top_k</c>, <c>ef_search</c>, <c>search_patience</c> and <c>allow_partial</c> for each.</summary>
public sealed record BatchRecallRequest(UserRequest[] Users, long TopK, bool ExcludeSeen, long? EfSearch = null, bool AllowPartial = false, long? SearchPatience = null);

/// <summary>
/// One item of <c>PUT /v1/items</c>: its id and either its <c>vector</c> or its description (<c>category</c>, <c>tags</c>,
/// <c>features</c>) for the bundle's item tower to encode (<see cref="ItemFeatureEncoder"/>).
/// </summary>
public sealed record ItemPut(string Id, float[]? Vector, ItemDescription? Description);

/// <summary>What the reader accepts before parsing further: users per batch and items per history.</summary>
public readonly record struct RequestLimits(int MaxBatch, int MaxHistory);

/// <summary>
/// Reads request bodies strictly: every field has one JSON type, required fields must be there,
/// unknown fields are refused (a misspelt <c>topk</c> should not silently fall back to a default), and
/// every error names the field by its JSON path. A field given twice, and text that is not valid
/// UTF-8 (a lone surrogate escape, raw invalid bytes), are refused too.
/// </summary>
public static class RecallRequestReader
{
    private static readonly JsonReaderOptions Options = new() { CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 8 };

    public static RecallRequest ReadRecall(in ReadOnlySequence<byte> body, RequestLimits limits)
    {
        var reader = new Utf8JsonReader(body, Options);
        string field = "body";
        try
        {
            string? userId = null; float[]? features = null; string[]? history = null; long? topK = null; bool excludeSeen = false; long? efSearch = null;
            bool allowPartial = false; long? patience = null;
            int given = 0;
            StartObject(ref reader, "body");
            while (NextProperty(ref reader, "", out field))
            {
                switch (field)
                {
                    case "user_id": Once(ref given, 1, field); userId = ReadId(ref reader, field, "a user id"); break;
                    case "features": Once(ref given, 2, field); features = ReadFeatures(ref reader, field); break;
                    case "history": Once(ref given, 4, field); history = ReadItemIds(ref reader, field, limits.MaxHistory); break;
                    case "top_k": Once(ref given, 8, field); topK = ReadCount(ref reader, field); break;
                    case "exclude_seen": Once(ref given, 16, field); excludeSeen = ReadBool(ref reader, field); break;
                    case "ef_search": Once(ref given, 32, field); efSearch = ReadCount(ref reader, field); break;
                    case "allow_partial": Once(ref given, 64, field); allowPartial = ReadBool(ref reader, field); break;
                    case "search_patience": Once(ref given, 128, field); patience = ReadCount(ref reader, field); break;
                    default: throw Unknown(field, "user_id, features, history, top_k, exclude_seen, ef_search, search_patience, allow_partial");
                }
                field = "body";
            }
            End(ref reader);
            return new RecallRequest(new UserRequest(Required(userId, "user_id"), features, history), Required(topK, "top_k"), excludeSeen, efSearch, allowPartial, patience);
        }
        catch (JsonException e) { throw Malformed(e, body, field); }
        catch (InvalidOperationException e) { throw NotUtf8(e, field); }
    }

    /// <summary>
    /// <c>PUT /v1/items</c>: <c>{"items": [{"id": …, "vector": [...]}, {"id": …, "category": 3, "tags": [...], "features": [...]}, …]}</c>,
    /// at most the server's batch cap. Numbers are checked for finite values here; vector widths and descriptions by the
    /// caller, which knows the items' dimension and the item tower.
    /// </summary>
    public static ItemPut[] ReadItems(in ReadOnlySequence<byte> body, RequestLimits limits)
    {
        var reader = new Utf8JsonReader(body, Options);
        string field = "body";
        try
        {
            ItemPut[]? items = null;
            int given = 0;
            StartObject(ref reader, "body");
            while (NextProperty(ref reader, "", out field))
            {
                switch (field)
                {
                    case "items": Once(ref given, 1, field); items = ReadItemList(ref reader, limits, ref field); break;
                    default: throw Unknown(field, "items (an array of {id, vector} or {id, category, tags, features})");
                }
                field = "body";
            }
            End(ref reader);
            return Required(items, "items");
        }
        catch (JsonException e) { throw Malformed(e, body, field); }
        catch (InvalidOperationException e) { throw NotUtf8(e, field); }
    }

    private static ItemPut[] ReadItemList(ref Utf8JsonReader reader, RequestLimits limits, ref string field)
    {
        const string Shape = "an item object {id, vector} or {id, category, tags, features}";
        string path = field;
        StartArray(ref reader, path, "an array of item objects");
        var items = new List<ItemPut>();
        while (Read(ref reader) != JsonTokenType.EndArray)
        {
            string at = At(path, items.Count);
            if (items.Count == limits.MaxBatch) throw new RequestError(400, path, $"at most {limits.MaxBatch} items per request (the server's --max-batch)");
            if (reader.TokenType != JsonTokenType.StartObject) throw WrongType(at, Shape, reader.TokenType);
            string? id = null; float[]? vector = null, features = null; int? category = null; int[]? tags = null;
            int given = 0;
            while (NextProperty(ref reader, at + ".", out field))
            {
                switch (field[(at.Length + 1)..])
                {
                    case "id": Once(ref given, 1, field); id = ReadId(ref reader, field, "an item id"); break;
                    case "vector": Once(ref given, 2, field); vector = ReadFeatures(ref reader, field); break;
                    case "category": Once(ref given, 4, field); category = ReadCategory(ref reader, field); break;
                    case "tags": Once(ref given, 8, field); tags = ReadTags(ref reader, field); break;
                    case "features": Once(ref given, 16, field); features = ReadFeatures(ref reader, field); break;
                    default: throw Unknown(field, "id, and vector or category, tags, features");
                }
                field = at;
            }
            bool described = category is not null || tags is not null || features is not null;
            if (vector is not null && described)
                throw new RequestError(400, at + ".vector", "give the item's vector or its description (category, tags, features) for the item tower to encode, not both");
            if (vector is null && !described)
                throw new RequestError(400, at + ".vector", "is required, or the item's description (category, tags, features) for the item tower to encode");
            items.Add(new ItemPut(Required(id, at + ".id"), vector, described ? new ItemDescription(category, tags, features) : null));
            field = path;
        }
        return [.. items];
    }

    /// <summary>A category number (the vocabulary is the model's: the item tower checks the range).</summary>
    private static int ReadCategory(ref Utf8JsonReader reader, string field)
    {
        long v = ReadCount(ref reader, field);
        return v is >= 0 and <= int.MaxValue ? (int)v : throw new RequestError(400, field, $"is {(v == long.MaxValue ? "a larger number" : v.ToString(System.Globalization.CultureInfo.InvariantCulture))}, not a category number (0 or more)");
    }

    /// <summary>Tag numbers, at most <see cref="ItemFeatureEncoder.MaxTags"/> (the vocabulary is the model's: the item tower checks the range).</summary>
    private static int[] ReadTags(ref Utf8JsonReader reader, string field)
    {
        if (Read(ref reader) != JsonTokenType.StartArray) throw WrongType(field, "an array of tag numbers", reader.TokenType);
        var tags = new List<int>();
        while (Read(ref reader) != JsonTokenType.EndArray)
        {
            if (tags.Count == ItemFeatureEncoder.MaxTags) throw new RequestError(400, field, $"at most {ItemFeatureEncoder.MaxTags} tags per item");
            if (reader.TokenType != JsonTokenType.Number) throw WrongType(At(field, tags.Count), "a tag number", reader.TokenType);
            if (!reader.TryGetInt32(out int tag) || tag < 0) throw new RequestError(400, At(field, tags.Count), "must be a tag number (an integer, 0 or more)");
            tags.Add(tag);
        }
        return [.. tags];
    }

    public static BatchRecallRequest ReadBatch(in ReadOnlySequence<byte> body, RequestLimits limits)
    {
        var reader = new Utf8JsonReader(body, Options);
        string field = "body";
        try
        {
            UserRequest[]? users = null; long? topK = null; bool excludeSeen = false; long? efSearch = null; bool allowPartial = false; long? patience = null;
            int given = 0;
            StartObject(ref reader, "body");
            while (NextProperty(ref reader, "", out field))
            {
                switch (field)
                {
                    case "users": Once(ref given, 1, field); users = ReadUsers(ref reader, limits, ref field); break;
                    case "top_k": Once(ref given, 2, field); topK = ReadCount(ref reader, field); break;
                    case "exclude_seen": Once(ref given, 4, field); excludeSeen = ReadBool(ref reader, field); break;
                    case "ef_search": Once(ref given, 8, field); efSearch = ReadCount(ref reader, field); break;
                    case "allow_partial": Once(ref given, 16, field); allowPartial = ReadBool(ref reader, field); break;
                    case "search_patience": Once(ref given, 32, field); patience = ReadCount(ref reader, field); break;
                    default: throw Unknown(field, "users, top_k, exclude_seen, ef_search, search_patience, allow_partial");
                }
                field = "body";
            }
            End(ref reader);
            users = Required(users, "users");
            if (users.Length == 0) throw new RequestError(400, "users", "must hold at least one user");
            return new BatchRecallRequest(users, Required(topK, "top_k"), excludeSeen, efSearch, allowPartial, patience);
        }
        catch (JsonException e) { throw Malformed(e, body, field); }
        catch (InvalidOperationException e) { throw NotUtf8(e, field); }
    }

    private static UserRequest[] ReadUsers(ref Utf8JsonReader reader, RequestLimits limits, ref string field)
    {
        string path = field;
        StartArray(ref reader, path, "an array of user objects");
        var users = new List<UserRequest>();
        while (Read(ref reader) != JsonTokenType.EndArray)
        {
            string at = At(path, users.Count);
            if (users.Count == limits.MaxBatch) throw new RequestError(400, path, $"at most {limits.MaxBatch} users per batch (the server's --max-batch)");
            if (reader.TokenType != JsonTokenType.StartObject) throw WrongType(at, "an object {user_id, features?, history?}", reader.TokenType);
            string? userId = null; float[]? features = null; string[]? history = null;
            int given = 0;
            while (NextProperty(ref reader, at + ".", out field))
            {
                string name = field[(at.Length + 1)..];
                switch (name)
                {
                    case "user_id": Once(ref given, 1, field); userId = ReadId(ref reader, field, "a user id"); break;
                    case "features": Once(ref given, 2, field); features = ReadFeatures(ref reader, field); break;
                    case "history": Once(ref given, 4, field); history = ReadItemIds(ref reader, field, limits.MaxHistory); break;
                    default: throw Unknown(field, "user_id, features, history (top_k, exclude_seen, ef_search, search_patience and allow_partial go on the batch)");
                }
                field = at;
            }
            users.Add(new UserRequest(Required(userId, at + ".user_id"), features, history));
            field = path;
        }
        return [.. users];
    }

    private static JsonTokenType Read(ref Utf8JsonReader reader)
    {
        if (!reader.Read()) throw new RequestError(400, "body", "the JSON ends early");
        return reader.TokenType;
    }

    private static void StartObject(ref Utf8JsonReader reader, string field)
    {
        if (!reader.Read()) throw new RequestError(400, "body", "empty body: expected a JSON object");
        if (reader.TokenType != JsonTokenType.StartObject) throw WrongType(field, "a JSON object", reader.TokenType);
    }

    private static void StartArray(ref Utf8JsonReader reader, string field, string expected)
    {
        if (Read(ref reader) != JsonTokenType.StartArray) throw WrongType(field, expected, reader.TokenType);
    }

    /// <summary>Moves to the next property of the current object and names it; false at the object's end.</summary>
    private static bool NextProperty(ref Utf8JsonReader reader, string prefix, out string field)
    {
        if (Read(ref reader) == JsonTokenType.EndObject) { field = prefix.Length == 0 ? "body" : prefix.TrimEnd('.'); return false; }
        field = prefix + reader.GetString();
        return true;
    }

    private static void End(ref Utf8JsonReader reader)
    {
        if (reader.Read()) throw new RequestError(400, "body", "unexpected content after the JSON object");
    }

    /// <summary>The longest id text accepted; ids are keys, not documents.</summary>
    internal const int MaxIdLength = 256;

    /// <summary>An id: a JSON integer (as its canonical text) or a non-empty string of at most <see cref="MaxIdLength"/> characters.</summary>
    private static string ReadId(ref Utf8JsonReader reader, string field, string what) => IdValue(ref reader, Read(ref reader), field, what);

    /// <summary>The id at the token just read; <paramref name="index"/> ≥ 0 places it in the array <paramref name="field"/>.</summary>
    private static string IdValue(ref Utf8JsonReader reader, JsonTokenType token, string field, string what, int index = -1)
    {
        if (token == JsonTokenType.Number && reader.TryGetInt64(out long v)) return IdMap.KeyOf(v);
        if (token != JsonTokenType.String) throw WrongType(At(field, index), $"{what} (an integer or a string)", token);
        if (reader.ValueSpan.Length > 4 * MaxIdLength) throw new RequestError(400, At(field, index), $"is longer than {MaxIdLength} characters");
        string id = reader.GetString()!;
        if (id.Length == 0 || id.Length > MaxIdLength) throw new RequestError(400, At(field, index), $"must be 1 to {MaxIdLength} characters, got {id.Length}");
        return id;
    }

    /// <summary>
    /// The path of element <paramref name="index"/> of the array <paramref name="field"/> (the field itself when negative),
    /// built only for an error: a request's arrays of scalars are read without a string per element.
    /// </summary>
    private static string At(string field, int index) => index < 0 ? field : $"{field}[{index}]";

    /// <summary>A count such as <c>top_k</c>, kept as sent (a huge one is "above the cap", reported with its own value).</summary>
    private static long ReadCount(ref Utf8JsonReader reader, string field)
    {
        if (Read(ref reader) != JsonTokenType.Number) throw WrongType(field, "an integer", reader.TokenType);
        if (reader.TryGetInt64(out long v)) return v;
        if (reader.TryGetDecimal(out decimal d) && decimal.Truncate(d) == d) return d > 0 ? long.MaxValue : long.MinValue;
        throw WrongType(field, "an integer", reader.TokenType);
    }

    /// <summary>Refuses a field given twice in one object (JSON parsers disagree on which one wins).</summary>
    private static void Once(ref int given, int bit, string field)
    {
        if ((given & bit) != 0) throw new RequestError(400, field, "is given twice");
        given |= bit;
    }

    private static bool ReadBool(ref Utf8JsonReader reader, string field) => Read(ref reader) switch
    {
        JsonTokenType.True => true,
        JsonTokenType.False => false,
        var t => throw WrongType(field, "true or false", t),
    };

    private static float[]? ReadFeatures(ref Utf8JsonReader reader, string field)
    {
        if (Read(ref reader) == JsonTokenType.Null) return null;
        if (reader.TokenType != JsonTokenType.StartArray) throw WrongType(field, "an array of numbers", reader.TokenType);
        var values = new List<float>();
        while (Read(ref reader) != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetDouble(out double d)) throw WrongType(At(field, values.Count), "a number", reader.TokenType);
            float f = (float)d;
            if (!float.IsFinite(f)) throw new RequestError(400, At(field, values.Count), $"{d} does not fit a 32-bit float");
            values.Add(f);
        }
        return [.. values];
    }

    private static string[]? ReadItemIds(ref Utf8JsonReader reader, string field, int maxItems)
    {
        if (Read(ref reader) == JsonTokenType.Null) return null;
        if (reader.TokenType != JsonTokenType.StartArray) throw WrongType(field, "an array of item ids", reader.TokenType);
        var ids = new List<string>();
        for (var token = Read(ref reader); token != JsonTokenType.EndArray; token = Read(ref reader))
        {
            if (ids.Count == maxItems) throw new RequestError(400, field, $"at most {maxItems} items (the server's --max-history); send the most recent ones");
            ids.Add(IdValue(ref reader, token, field, "an item id", ids.Count));
        }
        return [.. ids];
    }

    private static T Required<T>(T? value, string field) where T : class => value ?? throw new RequestError(400, field, "is required");
    private static T Required<T>(T? value, string field) where T : struct => value ?? throw new RequestError(400, field, "is required");

    private static RequestError Unknown(string field, string known) => new(400, Excerpt.Of(field), $"unknown field; this request takes {known}");

    private static RequestError NotUtf8(InvalidOperationException e, string field) =>
        new(400, Excerpt.Of(field), $"the body is not valid UTF-8 text ({e.Message.TrimEnd('.')})");

    private static RequestError WrongType(string field, string expected, JsonTokenType found) =>
        new(400, field, $"expected {expected}, found {Describe(found)}");

    private static string Describe(JsonTokenType t) => t switch
    {
        JsonTokenType.String => "a string",
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.Null => "null",
        JsonTokenType.StartArray => "an array",
        JsonTokenType.StartObject => "an object",
        _ => t.ToString(),
    };

    /// <summary>Malformed JSON, named by position; NaN and Infinity (not JSON numbers) get their own message.</summary>
    private static RequestError Malformed(JsonException e, in ReadOnlySequence<byte> body, string field)
    {
        long line = (e.LineNumber ?? 0) + 1, column = (e.BytePositionInLine ?? 0) + 1;
        if (LooksLikeNonFinite(body, e)) return new RequestError(400, field, $"NaN and Infinity are not valid JSON numbers (line {line}, byte {column})");
        string reason = e.Message.Split(" LineNumber:")[0].TrimEnd(' ', '.');
        return new RequestError(400, field, $"malformed JSON at line {line}, byte {column}: {reason}");
    }

    private static bool LooksLikeNonFinite(in ReadOnlySequence<byte> body, JsonException e)
    {
        if (e.LineNumber is not { } lineNumber || e.BytePositionInLine is not { } column) return false;
        var bytes = body.ToArray().AsSpan();
        for (long line = 0; line < lineNumber; line++)
        {
            int nl = bytes.IndexOf((byte)'\n');
            if (nl < 0) return false;
            bytes = bytes[(nl + 1)..];
        }
        if (column >= bytes.Length) return false;
        var rest = bytes[(int)column..];
        if (rest.StartsWith("-"u8) || rest.StartsWith("+"u8)) rest = rest[1..];
        return rest.StartsWith("NaN"u8) || rest.StartsWith("Infinity"u8) || rest.StartsWith("nan"u8) || rest.StartsWith("inf"u8);
    }
}
