using VectorRecall.Autograd;
using VectorRecall.Nn;
using VectorRecall.Numerics;

namespace VectorRecall.Towers;

/// <summary>Shape of a <see cref="SequenceEncoder"/> (SASRec's hyper-parameters by name).</summary>
public sealed record SequenceEncoderConfig
{
    public int NumItems { get; init; }
    public int Dim { get; init; } = 64;
    /// <summary>The most recent items read; older ones are dropped, shorter histories left-padded.</summary>
    public int MaxLength { get; init; } = 50;
    public int Blocks { get; init; } = 2;
    public int Heads { get; init; } = 1;
    public float Dropout { get; init; } = 0.5f;
    public bool PreNorm { get; init; } = true;
    /// <summary>Distinct item attributes (brand, category …) whose mean embedding is added to each item's (0: the item id alone).</summary>
    public int Attributes { get; init; }

    public void Validate()
    {
        Settings.Check(Attributes >= 0, nameof(Attributes), $"must be non-negative, got {Attributes}");
        Settings.Check(NumItems >= 1, nameof(NumItems), $"must be at least 1, got {NumItems}");
        Settings.Check(Dim >= 1, nameof(Dim), $"must be at least 1, got {Dim}");
        Settings.Check(MaxLength >= 1, nameof(MaxLength), $"must be at least 1, got {MaxLength}");
        Settings.Check(Blocks >= 0, nameof(Blocks), $"must be non-negative, got {Blocks}");
        Settings.Check(Heads >= 1 && Dim % Heads == 0, nameof(Heads), $"must divide the width {Dim}, got {Heads}");
        Settings.Check(Dropout is >= 0 and < 1, nameof(Dropout), $"must be in [0, 1), got {Dropout}");
    }

    private static readonly System.Text.Json.JsonSerializerOptions Json = new() { PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower };

    /// <summary>The configuration as JSON (snake_case, as <see cref="TowerConfig"/>), stored in checkpoints and bundles.</summary>
    public string ToJson() => System.Text.Json.JsonSerializer.Serialize(this, Json);

    /// <summary>Parses a configuration written by <see cref="ToJson"/>; <paramref name="source"/> names the file in errors.</summary>
    public static SequenceEncoderConfig FromJson(string json, string source) =>
        IO.ConfigJson.Parse<SequenceEncoderConfig>(json, source, Json, c => c.Validate(), "sequence encoder configuration");
}

/// <summary>
/// A causal transformer over a user's item sequence (SASRec, Kang &amp; McAuley 2018): item embedding
/// · √dim plus a learned embedding of the item's place in a right-aligned window, dropout, <see cref="SequenceEncoderConfig.Blocks"/>
/// transformer blocks in which each position attends to itself and the ones before it, and a final
/// layer norm. Position t's output stands for the user after item t; the item vectors are the output
/// table too (tied), so scoring a position against items is an inner product with them. An item's vector
/// is its id's embedding, plus, with <see cref="SequenceEncoderConfig.Attributes"/>, the mean embedding of
/// its attributes (so items that share a brand or category start alike). Token 0 is padding; item i is token i + 1.
/// </summary>
public sealed class SequenceEncoder : Module
{
    private readonly Rng _rng;
    private readonly Data.ItemCatalog? _catalog;
    /// <summary>Every item's token (1 … NumItems), what the full softmax and the exported item vectors read.</summary>
    private readonly int[] _allItems;

    /// <summary>
    /// A new encoder; <paramref name="catalog"/> gives each item's attributes (its tags) and is needed to train or
    /// to compute item vectors when the configuration reads attributes. A served encoder reads its bundle's item vectors instead.
    /// </summary>
    public SequenceEncoder(SequenceEncoderConfig config, Rng rng, Data.ItemCatalog? catalog = null)
    {
        config.Validate();
        if (catalog is not null && config.Attributes > 0 && (catalog.Count != config.NumItems || catalog.TagCount != config.Attributes))
            throw new ArgumentException($"the item catalogue has {catalog.Count} items with {catalog.TagCount} attributes, the encoder expects {config.NumItems} with {config.Attributes}");
        Config = config;
        _rng = rng;
        _catalog = config.Attributes > 0 ? catalog : null;
        _allItems = [.. Enumerable.Range(1, config.NumItems)];
        int d = config.Dim;
        Items = RegisterModule("items", new Embedding(config.NumItems + 1, d, rng));
        Positions = RegisterModule("positions", new Embedding(config.MaxLength, d, rng, sparse: false));
        // Small starting vectors: the input is item · √d + position, and both should start near unit scale.
        TensorPrimitives.Multiply(Items.Weight.Value.Span, 1f / d, Items.Weight.Value.Span);
        TensorPrimitives.Multiply(Positions.Weight.Value.Span, 1f / MathF.Sqrt(d), Positions.Weight.Value.Span);
        if (config.Attributes > 0)
        {
            AttributeTable = RegisterModule("attributes", new EmbeddingBag(config.Attributes, d, BagMode.Mean, rng));
            TensorPrimitives.Multiply(AttributeTable.Weight.Value.Span, 1f / d, AttributeTable.Weight.Value.Span);
        }
        Blocks = [.. Enumerable.Range(0, config.Blocks).Select(b =>
            RegisterModule($"block{b}", new TransformerBlock(d, config.Heads, d, config.Dropout, config.PreNorm, rng)))];
        FinalNorm = RegisterModule("final_norm", new LayerNorm(d));
    }

    public SequenceEncoderConfig Config { get; }
    public Embedding Items { get; }
    /// <summary>Attribute embeddings, averaged per item into its vector (null without attributes).</summary>
    public EmbeddingBag? AttributeTable { get; }
    public Embedding Positions { get; }
    public IReadOnlyList<TransformerBlock> Blocks { get; }
    public LayerNorm FinalNorm { get; }

    /// <summary>
    /// Every position's output ([rows × dim]) for <paramref name="tokens"/> (item + 1 per row, 0 for padding) laid out as
    /// <paramref name="shape"/> says: packed sequences one after another, or padded rows of equal length.
    /// </summary>
    public Variable Forward(int[] tokens, SequenceShape shape)
    {
        int n = shape.Rows;
        if (tokens.Length != n) throw new ArgumentException($"{tokens.Length} tokens for {shape.Batch} sequences of {n} rows");
        if (shape.Length > Config.MaxLength) throw new ArgumentException($"sequences of {shape.Length} are longer than the encoder's {Config.MaxLength} positions");
        var positions = new int[n];
        // Positions index a right-aligned window of MaxLength (SASRec's): the latest item always sits at the last
        // position, in training as when served, and left padding moves no real item.
        for (int b = 0; b < shape.Batch; b++)
        {
            int start = shape.Start(b), count = shape.Count(b);
            for (int t = 0; t < count; t++) positions[start + t] = Config.MaxLength - count + t;
        }
        var x = Ops.Add(Ops.Scale(TokenVectors(tokens), MathF.Sqrt(Config.Dim)), Positions.Forward(positions));
        x = Ops.Dropout(x, Config.Dropout, Training, _rng);
        foreach (var block in Blocks) x = block.Forward(x, shape, causal: true);
        return FinalNorm.Forward(x);
    }

    /// <summary>Item scores for every position: the outputs against every item's (tied) vector, [rows × items].</summary>
    public Variable ScoreAllItems(Variable outputs) =>
        Ops.MatMul(outputs, TokenVectors(_allItems), transposeB: true);

    /// <summary>
    /// The vectors of <paramref name="tokens"/> (item + 1; 0 is padding): the id's embedding, plus the mean of the item's
    /// attribute embeddings when the encoder reads attributes. What the input reads and the output scores against.
    /// </summary>
    public Variable TokenVectors(int[] tokens)
    {
        var rows = Items.Forward(tokens);
        if (AttributeTable is null) return rows;
        var catalog = _catalog ?? throw new InvalidOperationException("this encoder reads item attributes but was made without the item catalogue; a served encoder reads its bundle's item vectors");
        var offsets = new int[tokens.Length];
        var indices = new List<int>();
        for (int r = 0; r < tokens.Length; r++)
        {
            offsets[r] = indices.Count;
            if (tokens[r] > 0) foreach (int a in catalog.TagsOf(tokens[r] - 1)) indices.Add(a);
        }
        return Ops.Add(rows, AttributeTable.Forward([.. indices], offsets));
    }

    /// <summary>Every item's vector (row i = item i), computed without recording: what serving indexes and reads.</summary>
    public Tensor ItemVectors() => Tape.NoGrad(() => TokenVectors(_allItems).Value.Clone());
}

/// <summary>Users' recent items as packed token rows for a <see cref="SequenceEncoder"/>.</summary>
public static class SequenceTokens
{
    /// <summary>
    /// Each history's latest <paramref name="maxLength"/> items as tokens (item + 1), packed one history after
    /// another (no padding), with the shape the encoder needs. Every history must have an item.
    /// </summary>
    public static (int[] Tokens, SequenceShape Shape) Of(IReadOnlyList<ReadOnlyMemory<int>> histories, int maxLength)
    {
        var lengths = new int[histories.Count];
        for (int r = 0; r < lengths.Length; r++) lengths[r] = Math.Min(histories[r].Length, maxLength);
        var shape = SequenceShape.Packed(lengths);
        var tokens = new int[shape.Rows];
        for (int r = 0; r < lengths.Length; r++)
        {
            var window = histories[r].Span[^lengths[r]..];
            for (int t = 0; t < window.Length; t++) tokens[shape.Start(r) + t] = window[t] + 1;
        }
        return (tokens, shape);
    }

    /// <summary>The encoder's output at each history's latest item ([histories × dim]): the users' vectors.</summary>
    public static Variable Latest(SequenceEncoder encoder, IReadOnlyList<ReadOnlyMemory<int>> histories)
    {
        var (tokens, shape) = Of(histories, encoder.Config.MaxLength);
        var last = new int[shape.Batch];
        for (int r = 0; r < last.Length; r++) last[r] = shape.Start(r) + shape.Count(r) - 1;
        return Ops.GatherRows(encoder.Forward(tokens, shape), last);
    }
}

/// <summary>
/// A <see cref="SequenceEncoder"/> as an <see cref="Retrieval.IUserEncoder"/>: a user's vector is the encoder's output at the
/// latest item of its history — the stored one, or the one a query gives (oldest first; only the latest
/// <see cref="SequenceEncoderConfig.MaxLength"/> items are read). The model takes no profile features.
/// </summary>
public sealed class SequenceUserEncoder : Retrieval.IUserEncoder
{
    private readonly SequenceEncoder _encoder;
    private readonly Data.UserItemLists _history;
    private readonly SequenceInference _inference;

    /// <summary>
    /// Encodes with <paramref name="encoder"/>, reading items' vectors from <paramref name="itemVectors"/> ([items × dim]: a bundle's
    /// item table) or, when null, from the encoder itself.
    /// </summary>
    public SequenceUserEncoder(SequenceEncoder encoder, Data.UserItemLists history, Tensor? itemVectors = null)
    {
        _encoder = encoder;
        _encoder.Eval();
        _history = history;
        itemVectors ??= encoder.ItemVectors();
        if (itemVectors.Rows != encoder.Config.NumItems || itemVectors.Cols != encoder.Config.Dim)
            throw new ArgumentException($"item vectors {itemVectors} do not match the encoder's {encoder.Config.NumItems} items of width {encoder.Config.Dim}");
        _inference = new SequenceInference(encoder, itemVectors);
    }

    public SequenceEncoder Encoder => _encoder;
    public int UserCount => _history.UserCount;
    public int FeatureCount => 0;
    public int Dimension => _encoder.Config.Dim;

    public Tensor Encode(ReadOnlySpan<Retrieval.UserQuery> queries)
    {
        var vectors = new Tensor(queries.Length, Dimension);
        Encode(queries, vectors.Span);
        return vectors;
    }

    /// <summary>The rows written into <paramref name="destination"/>; allocates nothing once warm (the forward pass runs in per-thread buffers).</summary>
    public void Encode(ReadOnlySpan<Retrieval.UserQuery> queries, Span<float> destination)
    {
        int d = Dimension;
        if (destination.Length != queries.Length * d) throw new ArgumentException($"{queries.Length} queries need {queries.Length * d} floats, the destination has {destination.Length}");
        for (int r = 0; r < queries.Length; r++)
            _inference.EncodeLatest(HistoryOf(queries[r], r), destination.Slice(r * d, d));
        Retrieval.UserVectors.CheckUsable(destination, d, queries, "sequence encoder", "its weights or history are broken", "history");
    }

    /// <summary>The query's own history, or the stored one of a known user; refused when there is none or an item is out of range.</summary>
    private ReadOnlySpan<int> HistoryOf(in Retrieval.UserQuery q, int row)
    {
        bool known = (ulong)q.UserId < (ulong)UserCount;
        if (!q.Features.IsEmpty) throw new ArgumentException($"user {q.UserId}: this model takes no profile features, {q.Features.Length} were given");
        if (q.History is { } given)
            foreach (int i in given)
                if ((uint)i >= (uint)_encoder.Config.NumItems) throw new ArgumentException($"user {q.UserId}: history item {i} is outside [0, {_encoder.Config.NumItems})");
        var history = q.History is { } h ? h : known ? _history.MemoryOf((int)q.UserId).Span : default;
        if (history.IsEmpty)
            throw new Retrieval.UserVectorException(row, known
                ? $"user {q.UserId} has no stored history; pass its recent items as history"
                : $"user {q.UserId} is not in the bundle (known users are 0 .. {UserCount - 1}); pass its recent items as history", "history");
        return history;
    }
}
