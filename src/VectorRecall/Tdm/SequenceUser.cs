using VectorRecall.Data;
using VectorRecall.Nn;
using VectorRecall.Numerics;
using VectorRecall.Retrieval;
using VectorRecall.Towers;

namespace VectorRecall.Tdm;

/// <summary>
/// A sequence encoder as a TDM model's user encoder: the encoder and the item table it reads histories through (a
/// sequence bundle's item vectors, kept as a buffer so a checkpoint alone can encode users). It is frozen in TDM
/// training: the tree and the scorer learn on its vectors, which are computed once per trainer, not per step.
/// </summary>
public sealed class SequenceUser : Module
{
    public SequenceUser(SequenceEncoderConfig config, Rng rng)
    {
        Encoder = RegisterModule("encoder", new SequenceEncoder(config, rng));
        Items = RegisterBuffer("items", new Tensor(config.NumItems, config.Dim));
    }

    public SequenceEncoder Encoder { get; }
    /// <summary>Item i's input vector, row i (the id's embedding plus its attributes', as the encoder was trained).</summary>
    public Tensor Items { get; }
    public SequenceEncoderConfig Config => Encoder.Config;

    /// <summary>A sequence user with <paramref name="encoder"/>'s weights and <paramref name="items"/> as its item table.</summary>
    public static SequenceUser From(SequenceEncoder encoder, Tensor items)
    {
        var c = encoder.Config;
        if (items.Rows != c.NumItems || items.Cols != c.Dim) throw new ArgumentException($"item vectors {items} do not match the encoder's {c.NumItems} items of width {c.Dim}");
        var user = new SequenceUser(c, new Rng(0));
        user.Encoder.LoadStateDict(encoder.StateDict());
        items.Span.CopyTo(user.Items.Span);
        return user;
    }

    /// <summary>Encodes users from <paramref name="history"/> (stored users) or a query's own items, as a served sequence bundle does.</summary>
    public SequenceUserEncoder Users(UserItemLists history) => new(Encoder, history, Items);

    /// <summary>Each user's vector after the latest of <paramref name="history"/>'s items ([users × dim]); a user with none gets a zero row.</summary>
    public Tensor Latest(UserItemLists history, int[] users)
    {
        var inference = Inference();
        var vectors = new Tensor(users.Length, Config.Dim);
        Parallel.For(0, users.Length, Threads.Options, r =>
        {
            var items = history.Of(users[r]);
            if (items.Length > 0) inference.EncodeLatest(items, vectors.Row(r));
        });
        return vectors;
    }

    /// <summary>
    /// The user vector before each example (<paramref name="users"/>[e], <paramref name="positions"/>[e] ≥ 1): the encoder's
    /// output at the item just before it in <paramref name="lists"/>, as training scores each next item. Positions are
    /// encoded a window of <see cref="SequenceEncoderConfig.MaxLength"/> items at a time, each window half a window after
    /// the last, so a pass costs about two forwards per item and every output sees at least half a window of history.
    /// </summary>
    public Tensor BeforeEach(UserItemLists lists, int[] users, int[] positions)
    {
        if (users.Length != positions.Length) throw new ArgumentException($"{users.Length} users for {positions.Length} positions");
        int d = Config.Dim, window = Config.MaxLength, stride = Math.Max(1, window / 2);
        var inference = Inference();
        var vectors = new Tensor(users.Length, d);
        // Runs of examples of one user are encoded together, so a window is computed once for all the positions it serves.
        var runs = new List<int>();
        for (int e = 0; e < users.Length; e++)
        {
            if (positions[e] < 1 || positions[e] > lists.CountOf(users[e])) throw new ArgumentException($"example {e}: position {positions[e]} has no item before it in user {users[e]}'s {lists.CountOf(users[e])}");
            if (e == 0 || users[e] != users[e - 1]) runs.Add(e);
        }
        runs.Add(users.Length);
        using var outputs = new ThreadLocal<float[]>(() => new float[window * d]);
        Parallel.For(0, runs.Count - 1, Threads.Options, r =>
        {
            var buffer = outputs.Value!;
            int encodedStart = -1;
            for (int e = runs[r]; e < runs[r + 1]; e++)
            {
                var items = lists.Of(users[e]);
                int last = positions[e] - 1;
                int start = last < window ? 0 : ((last - window) / stride + 1) * stride;
                if (start != encodedStart)
                {
                    int end = Math.Min(start + window, items.Length);
                    inference.EncodeEach(items[start..end], buffer.AsSpan(0, (end - start) * d));
                    encodedStart = start;
                }
                buffer.AsSpan((last - start) * d, d).CopyTo(vectors.Row(e));
            }
        });
        return vectors;
    }

    private SequenceInference Inference()
    {
        Encoder.Eval();
        return new SequenceInference(Encoder, Items);
    }
}
