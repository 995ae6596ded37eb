using System.Text.Json;
using VectorRecall.Autograd;
using VectorRecall.Nn;
using VectorRecall.Numerics;
using VectorRecall.Retrieval;
using VectorRecall.Towers;

namespace VectorRecall.Tdm;

/// <summary>
/// How a tree node is scored for a user: the inner product of their vectors; an MLP over [user, node, user ⊙ node] on
/// every level; or the inner product on the route and that MLP on the leaves (<see cref="LeafScorerTraining"/> trains it).
/// </summary>
public enum NodeScorerKind { InnerProduct, Mlp, LeafMlp }

/// <summary>
/// Shape of a TDM model: its user encoder's — a two-tower's user tower (<see cref="User"/>) or a sequence encoder
/// (<see cref="Sequence"/>), exactly one, whose output width is the node width — the node count, the scorer.
/// </summary>
public sealed record TdmConfig
{
    public TowerConfig? User { get; init; }
    public SequenceEncoderConfig? Sequence { get; init; }
    public int Nodes { get; init; }
    public NodeScorerKind Scorer { get; init; } = NodeScorerKind.InnerProduct;
    /// <summary>Hidden sizes of the MLP scorer (PReLU between layers, one output).</summary>
    public int[] MlpHidden { get; init; } = [400, 200, 100];
    /// <summary>Inner-product logits are divided by this in training (the two-tower's τ); ranking is unaffected.</summary>
    public float Temperature { get; init; } = 0.1f;

    public int Dimension => User?.EmbeddingDim ?? Sequence!.Dim;

    /// <summary>Items the user encoder knows (the tree must hold as many).</summary>
    public int NumItems => User?.NumItems ?? Sequence!.NumItems;

    public void Validate()
    {
        if ((User is null) == (Sequence is null)) throw new ArgumentException("a TDM configuration needs exactly one user encoder: 'user' (a user tower) or 'sequence' (a sequence encoder)");
        User?.Validate();
        Sequence?.Validate();
        if (Nodes < 2) throw new ArgumentException($"a tree model needs at least 2 nodes, got {Nodes}");
        Settings.Check(MlpHidden.All(h => h >= 1), nameof(MlpHidden), $"sizes must be >= 1, got [{string.Join(", ", MlpHidden)}]");
        Settings.Check(Temperature > 0, nameof(Temperature), $"must be positive, got {Temperature}");
    }

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static TdmConfig FromJson(string json, string source) =>
        IO.ConfigJson.Parse<TdmConfig>(json, source, Json, c => c.Validate(), "TDM configuration");
}

/// <summary>
/// The tree-based deep model: the two-tower's user encoder (its user tower, or its sequence encoder) encodes a user,
/// a table holds one embedding per tree node, and a scorer rates (user, node) pairs. With the MLP scorer the
/// ranking is no inner product, so no vector index could serve it; the tree's beam search can.
/// </summary>
public sealed class TdmModel : Module, INodeScorer
{
    public TdmModel(TdmConfig config, Rng rng)
    {
        config.Validate();
        Config = config;
        UserEncoder = RegisterModule<Module>("user", config.User is { } tower ? new UserTower(tower, rng) : new SequenceUser(config.Sequence!, rng));
        Nodes = RegisterModule("nodes", new Embedding(config.Nodes, config.Dimension, rng));
        if (config.Scorer == NodeScorerKind.InnerProduct) return;
        Mlp = RegisterModule("scorer", Nn.Mlp.Build([3 * config.Dimension, .. config.MlpHidden, 1], rng, new MlpOptions { Activation = Activation.PRelu }));
        // A linear path from user ⊙ node to the score, starting at Σ uᵢnᵢ / τ: the MLP begins as the
        // inner-product scorer (whose tree and user tower it inherits) and learns what that misses.
        Skip = RegisterModule("scorer_skip", new Linear(config.Dimension, 1, rng, bias: false));
        Skip.Weight.Value.Span.Fill(1f / config.Temperature);
        // The leaf MLP starts as exactly the inner product, so training it from there is measured against the ranking it replaces.
        if (config.Scorer == NodeScorerKind.LeafMlp && Mlp.Layers[^1] is Linear last)
        {
            last.Weight.Value.Span.Clear();
            last.Bias?.Value.Span.Clear();
        }
    }

    public TdmConfig Config { get; }
    /// <summary>The user encoder: a <see cref="UserTower"/> or a <see cref="SequenceUser"/>.</summary>
    public Module UserEncoder { get; }
    /// <summary>The user tower; null when the user encoder is a sequence encoder.</summary>
    public UserTower? User => UserEncoder as UserTower;
    /// <summary>The sequence encoder; null when the user encoder is a user tower.</summary>
    public SequenceUser? Sequence => UserEncoder as SequenceUser;
    public Embedding Nodes { get; }
    /// <summary>Null for the inner-product scorer.</summary>
    public Sequential? Mlp { get; }
    /// <summary>The MLP scorer's linear path from user ⊙ node to the score; null for the inner-product scorer.</summary>
    public Linear? Skip { get; }

    /// <summary>The first leaf's row: the leaves are the tree's last level, one per item, and its rows come last.</summary>
    public int FirstLeaf => Config.Nodes - Config.NumItems;

    /// <summary>
    /// Training logits [R × W]: row r's user vector <paramref name="users"/>[r] against nodes
    /// <paramref name="candidates"/>[r·W .. (r+1)·W). A <see cref="NodeScorerKind.LeafMlp"/> model's are its MLP's: leaves only.
    /// </summary>
    public Variable Logits(Variable users, int[] candidates)
    {
        int rows = users.Rows, width = candidates.Length / Math.Max(1, rows);
        if (width * rows != candidates.Length) throw new ArgumentException($"{candidates.Length} candidates do not divide among {rows} rows");
        var nodes = Nodes.Forward(candidates);
        if (Mlp is null) return Ops.Scale(Ops.GroupedDot(users, nodes), 1f / Config.Temperature);
        var owner = new int[candidates.Length];
        for (int i = 0; i < owner.Length; i++) owner[i] = i / width;
        var product = Ops.Mul(Ops.GatherRows(users, owner), nodes);
        // The first layer on [u, n, u ⊙ n] is W_u·u + b, once per user, plus [W_n W_m]·[n, u ⊙ n] per candidate:
        // the user's third of the product is not repeated for each of its candidates (search folds it the same way).
        int d = Config.Dimension;
        var first = Mlp.Layers[0] as Linear ?? throw new InvalidOperationException("the MLP scorer must start with a Linear layer");
        var perUser = Ops.Linear(users, Ops.SliceColumns(first.Weight, 0, d), first.Bias);
        var h = Ops.Add(Ops.GatherRows(perUser, owner), Ops.Linear(Ops.ConcatColumns(nodes, product), Ops.SliceColumns(first.Weight, d, 2 * d), null));
        for (int i = 1; i < Mlp.Layers.Count; i++) h = Mlp.Layers[i].Forward(h);
        var scores = Ops.Add(h, Skip!.Forward(product));
        return Ops.Reshape(scores, rows, width);
    }

    /// <summary>
    /// Scores nodes for one user vector (inference; no tape), as beam search asks: the nodes of one level
    /// (a <see cref="NodeScorerKind.LeafMlp"/> model picks its scorer by whether they are leaves).
    /// </summary>
    public void Score(ReadOnlySpan<float> query, ReadOnlySpan<int> nodes, Span<float> scores)
    {
        int d = Config.Dimension;
        if (query.Length != d) throw new ArgumentException($"query has {query.Length} values, the model's vectors {d}");
        var table = Nodes.Weight.Value;
        if (Mlp is null || Config.Scorer == NodeScorerKind.LeafMlp && (nodes.IsEmpty || nodes[0] < FirstLeaf))
        {
            for (int i = 0; i < nodes.Length; i++) scores[i] = Distances.Dot(query, table.Row(nodes[i]));
            return;
        }
        MlpScorer.Score(Mlp, Skip!.Weight.Value.Span, query, table, nodes, scores);
    }
}

/// <summary>
/// The MLP scorer's forward pass for one user on per-thread buffers. The first layer's product with
/// [u, n, u ⊙ n] is W_u·u + (W_n + W_m·diag(u))·n, so per user it folds into one [hidden × d] matrix
/// and a bias, and each node costs a d-wide product instead of a 3d-wide one; the linear path
/// Σ sᵢuᵢnᵢ folds the same way. Then the remaining Linear/PReLU layers give one score per node.
/// </summary>
internal static class MlpScorer
{
    [ThreadStatic] private static float[]? _a, _b, _fold;

    public static void Score(Sequential mlp, ReadOnlySpan<float> skip, ReadOnlySpan<float> user, Tensor table, ReadOnlySpan<int> nodes, Span<float> scores)
    {
        int m = nodes.Length, d = user.Length;
        var first = mlp.Layers[0] as Linear ?? throw new InvalidOperationException("the MLP scorer must start with a Linear layer");
        int hidden = first.OutFeatures, width = d;
        foreach (var layer in mlp.Layers) if (layer is Linear l) width = Math.Max(width, l.OutFeatures);
        if (_a is null || _a.Length < m * width) { _a = new float[m * width]; _b = new float[m * width]; }
        if (_fold is null || _fold.Length < (hidden + 2) * d + hidden) _fold = new float[(hidden + 2) * d + hidden];

        // Fold the user into the first layer: A = W_n + W_m·diag(u), c = W_u·u + b, s = skip ⊙ u.
        var w = first.Weight.Value;
        var a = _fold.AsSpan(0, hidden * d);
        var c = _fold.AsSpan(hidden * d, hidden);
        var s = _fold.AsSpan(hidden * d + hidden, d);
        for (int r = 0; r < hidden; r++)
        {
            var row = w.Row(r);
            TensorPrimitives.Multiply(row.Slice(2 * d, d), user, a.Slice(r * d, d));
            TensorPrimitives.Add(a.Slice(r * d, d), row.Slice(d, d), a.Slice(r * d, d));
            c[r] = Distances.Dot(row[..d], user) + (first.Bias is null ? 0 : first.Bias.Value[r]);
        }
        TensorPrimitives.Multiply(skip, user, s);

        var x = _a.AsSpan(0, m * d);
        for (int i = 0; i < m; i++)
        {
            var node = table.Row(nodes[i]);
            node.CopyTo(x.Slice(i * d, d));
            scores[i] = Distances.Dot(s, node);
        }
        var h = _b.AsSpan(0, m * hidden);
        Gemm.Multiply(x, d, false, a, d, true, h, hidden, m, hidden, d, threads: 1);
        for (int i = 0; i < m; i++) TensorPrimitives.Add(h.Slice(i * hidden, hidden), c, h.Slice(i * hidden, hidden));

        float[] input = _b!, output = _a;
        int cols = hidden;
        for (int index = 1; index < mlp.Layers.Count; index++)
        {
            switch (mlp.Layers[index])
            {
                case Linear l:
                    var y = output.AsSpan(0, m * l.OutFeatures);
                    Gemm.Multiply(input.AsSpan(0, m * cols), cols, false, l.Weight.Value.Span, cols, true, y, l.OutFeatures, m, l.OutFeatures, cols, threads: 1);
                    if (l.Bias is not null) for (int i = 0; i < m; i++) TensorPrimitives.Add(y.Slice(i * l.OutFeatures, l.OutFeatures), l.Bias.Value.Span, y.Slice(i * l.OutFeatures, l.OutFeatures));
                    cols = l.OutFeatures;
                    (input, output) = (output, input);
                    break;
                case PRelu p:
                    var alpha = p.Alpha.Value.Span;
                    var v = input.AsSpan(0, m * cols);
                    for (int i = 0; i < v.Length; i++) if (v[i] < 0) v[i] *= alpha[alpha.Length == 1 ? 0 : i % cols];
                    break;
                default:
                    throw new InvalidOperationException($"the MLP scorer has an unexpected layer {mlp.Layers[index].GetType().Name}");
            }
        }
        TensorPrimitives.Add(scores[..m], input.AsSpan(0, m), scores[..m]);
    }
}
