using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using System.Text.Json.Serialization;
using VectorRecall.Data;

namespace VectorRecall.Server;

/// <summary>
/// The HTTP API's bodies as records, from which the OpenAPI document is generated (<see cref="OpenApiSetup"/>). The handlers
/// do not bind them: requests are read by <see cref="RecallRequestReader"/> (stricter than a binder: duplicate fields, error
/// paths, caps before allocating) and answers are written field by field without allocating. Tests hold both to these records:
/// a body serialised from a request record is read, and every answer deserialises into its record with no field left over.
/// Property names are the wire's in snake case (the document's JSON options say so); the type names are the schemas' names.
/// </summary>
internal static class HttpSchema
{
    private const string UserIdText = "The user's own id as the training data gave it (bundles written before user ids were kept: 0 .. users-1), or any id for a new user described by features or history";
    private const string FeaturesText = "Profile features replacing the stored ones; exactly the model's feature count (GET /readyz), finite. Required for a new user when the model has features. Values so far outside the training range that the tower's output overflows (non-finite or zero) are refused with 400 naming this field";
    private const string HistoryText = "Recent item ids, oldest first, replacing the stored history (the model uses its history_length latest). With exclude_seen they are left out too. At most the server's --max-history (default 500) items";
    private const string VersionText = "The served bundle's version (CRC-32C of its manifest)";

    /// <summary>A user's or item's own id: an integer (a JSON number; its digits as a string name the same id) or any other text.</summary>
    /// <remarks>Held as text, as the bundle's id maps hold it; its schema, integer or string, is set by <see cref="OpenApiSetup"/>.</remarks>
    [JsonConverter(typeof(IdConverter))]
    public sealed record Id(string Value);

    private sealed class IdConverter : JsonConverter<Id>
    {
        public override Id Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => new(reader.TokenType == JsonTokenType.Number
            ? IdMap.KeyOf(reader.GetInt64())
            : reader.GetString() ?? throw new JsonException("an id is an integer or a string"));

        public override void Write(Utf8JsonWriter writer, Id value, JsonSerializerOptions options) => IdMap.WriteKey(writer, value.Value);
    }

    /// <summary>The least value an integer field takes (the greatest is the server's cap, named in its description).</summary>
    [AttributeUsage(AttributeTargets.Property)]
    public sealed class AtLeastAttribute(long minimum) : Attribute
    {
        public long Minimum { get; } = minimum;
    }

    /// <summary>An optional field the reader refuses as <c>null</c>: left out, not null, when not given.</summary>
    [AttributeUsage(AttributeTargets.Property)]
    public sealed class NeverNullAttribute : Attribute;

    /// <summary>Bodies that refuse unknown fields: their schemas say <c>additionalProperties: false</c>.</summary>
    public interface IStrictBody;

    public sealed record User : IStrictBody
    {
        [Description(UserIdText)] public required Id UserId { get; init; }
        [Description(FeaturesText)] public float[]? Features { get; init; }
        [Description(HistoryText)] public Id[]? History { get; init; }
    }

    /// <summary>What one search takes, on a single request and on a batch alike.</summary>
    public abstract record SearchSettings : IStrictBody
    {
        [Description("Items to return; at most the server's --max-top-k (default 1000) and the number of items"), AtLeast(1)] public required long TopK { get; init; }
        [Description("Leave out the items the user already interacted with"), DefaultValue(false)] public bool ExcludeSeen { get; init; }
        [Description("This search's width: HNSW's candidate list, a tree's beam (at least top_k is used). At most the server's --max-ef-search (default 4096); without it, the server's --ef-search"), AtLeast(1), NeverNull] public long? EfSearch { get; init; }
        [Description("HNSW: stop the walk once this many node expansions in a row have not changed its best top_k (0: off). Raise ef_search with it: a query whose neighbours lie close together stops early, one whose neighbours are scattered runs on to ef_search. Other retrievers ignore it. Without it, the server's --search-patience (default 0)"), AtLeast(0), NeverNull] public long? SearchPatience { get; init; }
        [Description("Cluster nodes: when a shard has no live replica, answer from the other shards (flagged by partial and missing_shards) instead of 503"), DefaultValue(false)] public bool AllowPartial { get; init; }
    }

    public sealed record RecallRequest : SearchSettings
    {
        [Description(UserIdText)] public required Id UserId { get; init; }
        [Description(FeaturesText)] public float[]? Features { get; init; }
        [Description(HistoryText)] public Id[]? History { get; init; }
    }

    public sealed record BatchRecallRequest : SearchSettings
    {
        [Description("At most the server's --max-batch (default 256) users"), MinLength(1)] public required User[] Users { get; init; }
    }

    /// <summary>The items one search found, on a single answer and in each of a batch's results alike.</summary>
    public abstract record RecalledItems
    {
        [Description("Best first")] public required Id[] ItemIds { get; init; }
        [Description("The retriever's score, one per item: the inner product of user and item vectors (two_tower, semantic_ids), the model's leaf score (tdm)")] public required float[] Scores { get; init; }
        [Description("Only when allow_partial was given: whether some shard's items are missing from the answer")] public bool? Partial { get; init; }
        [Description("Only when allow_partial was given: the shards left out (empty when the answer is whole)")] public int[]? MissingShards { get; init; }
    }

    public sealed record RecallResponse : RecalledItems
    {
        [Description("Server time from handling the request to writing the answer")] public required double LatencyMs { get; init; }
        [Description(VersionText)] public required string ModelVersion { get; init; }
    }

    public sealed record BatchResult : RecalledItems
    {
        [Description("As the request sent it")] public required Id UserId { get; init; }
    }

    public sealed record BatchRecallResponse
    {
        [Description("One result per user, in request order")] public required BatchResult[] Results { get; init; }
        public required double LatencyMs { get; init; }
        [Description(VersionText)] public required string ModelVersion { get; init; }
    }

    public sealed record Health
    {
        [Description("ok")] public required string Status { get; init; }
    }

    public sealed record Ready
    {
        [Description("ready; or, with 503, stopping or waiting for bundle")] public required string Status { get; init; }
        [Description(VersionText)] public string? ModelVersion { get; init; }
        public string? CreatedUtc { get; init; }
        [Description("The paradigm the bundle serves: two_tower (HNSW or exact search), tdm (beam search) or semantic_ids (the trie)")]
        [AllowedValues("two_tower", "tdm", "semantic_ids")]
        public string? Kind { get; init; }
        public long? Items { get; init; }
        public long? Users { get; init; }
        [Description("The length 'features' must have")] public int? Features { get; init; }
        [Description("Why the last reload failed, until one succeeds (the version above keeps serving)")] public string? LastReloadError { get; init; }
    }

    public sealed record ReloadResponse
    {
        public required bool Reloaded { get; init; }
        [Description("Why the bundle failed to load (422 only)")] public string? Error { get; init; }
        public string? Field { get; init; }
        public int? Status { get; init; }
        public required string PreviousVersion { get; init; }
        [Description("The version serving after the call")] public required string ModelVersion { get; init; }
        public required long Items { get; init; }
        public required double LoadMs { get; init; }
    }

    [Description("Either the item's vector, or its description (category, tags, features: each exactly where the model's item tower has that branch) for the bundle's item tower to encode, with the id embedding of an item it never saw")]
    public sealed record Item : IStrictBody
    {
        public required Id Id { get; init; }
        [Description("The item's vector, as wide as the bundle's item vectors, finite")] public float[]? Vector { get; init; }
        [Description("The item's category number in the model's vocabulary"), AtLeast(0), NeverNull] public int? Category { get; init; }
        [Description("The item's tag numbers in the model's vocabulary"), MaxLength(1024), NeverNull] public int[]? Tags { get; init; }
        [Description("The item's dense features, as many as the model's items have, finite")] public float[]? Features { get; init; }
    }

    public sealed record ItemsRequest : IStrictBody
    {
        [Description("At most the server's --max-batch items")] public required Item[] Items { get; init; }
    }

    public sealed record ItemResult
    {
        public required Id Id { get; init; }
        public required int Shard { get; init; }
        [Description("Whether the cluster held the id before")] public required bool Replaced { get; init; }
    }

    public sealed record ItemsResponse
    {
        public required ItemResult[] Items { get; init; }
        public required double LatencyMs { get; init; }
    }

    public sealed record DeleteItemResponse
    {
        public required Id Id { get; init; }
        public required int Shard { get; init; }
        public required bool Deleted { get; init; }
        public required double LatencyMs { get; init; }
    }

    public sealed record CompactResponse
    {
        public required bool Compacted { get; init; }
        [Description("The shard set's generation now served")] public required long Generation { get; init; }
        [Description("Items added while serving, now in the shard files")] public required long LiveItems { get; init; }
        [Description("Bundle items deleted while serving, now out of the shard files")] public required long DeletedItems { get; init; }
        public required int ReplicasReloaded { get; init; }
        public required int Replicas { get; init; }
        public required double WritesPausedMs { get; init; }
    }

    public sealed record Error
    {
        [Description("What is wrong and what was expected"), JsonPropertyName("error")] public required string Message { get; init; }
        [Description("The JSON path at fault (e.g. users[2].features[5]), or body, path, method, content-type, authorization")] public required string Field { get; init; }
        public required int Status { get; init; }
    }
}
