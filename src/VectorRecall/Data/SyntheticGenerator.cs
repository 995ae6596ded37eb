using VectorRecall.Numerics;

namespace VectorRecall.Data;

/// <summary>Sizes and shape of a synthetic data set (the design note's defaults: 10k users, 100k items, 500k interactions).</summary>
internal sealed record SyntheticOptions
{
    public int NumUsers { get; init; } = 10_000;
    public int NumItems { get; init; } = 100_000;
    public int NumInteractions { get; init; } = 500_000;
    /// <summary>Latent topics; each item belongs to one, each user mostly to one or two.</summary>
    public int Topics { get; init; } = 20;
    /// <summary>Dimension of the latent taste space the truth is drawn in.</summary>
    public int LatentDim { get; init; } = 32;
    public int Categories { get; init; } = 100;
    public int Tags { get; init; } = 1000;
    public int MinTags { get; init; } = 3;
    public int MaxTags { get; init; } = 8;
    public int UserFeatures { get; init; } = 32;
    public int ItemFeatures { get; init; } = 32;
    /// <summary>Exponent s of the popularity law p(rank r) ∝ r^−s.</summary>
    public double ZipfExponent { get; init; } = 0.8;
    /// <summary>How strongly affinity (cosine of user and item tastes) drives choice: logit = sharpness·cos + log popularity.</summary>
    public float Sharpness { get; init; } = 10f;
    /// <summary>Share of each user's latest interactions held out for validation, and again for test (at least one each).</summary>
    public double HoldoutFraction { get; init; } = 0.1;
    public ulong Seed { get; init; } = 42;

    public void Validate()
    {
        Settings.Check(NumUsers >= 2, nameof(NumUsers), $"must be at least 2, got {NumUsers}");
        Settings.Check(NumItems >= 10, nameof(NumItems), $"must be at least 10, got {NumItems}");
        Settings.Check(NumInteractions >= 3 * NumUsers, nameof(NumInteractions), $"({NumInteractions}) must be at least 3 per user ({3 * NumUsers}) so every user has train, validation and test items");
        Settings.Check(NumInteractions <= (long)NumUsers * NumItems / 2, nameof(NumInteractions), $"({NumInteractions}) must be at most half of users x items");
        Check(Topics >= 1 && LatentDim >= 2, "topics must be >= 1 and the latent dimension >= 2");
        Check(Categories >= 1 && Tags >= 1, "categories and tags must be >= 1");
        Check(MinTags >= 1 && MaxTags >= MinTags && MaxTags <= Tags, $"tags per item must satisfy 1 <= {MinTags} <= {MaxTags} <= {Tags}");
        Check(UserFeatures >= 1 && ItemFeatures >= 1, "feature counts must be >= 1");
        Check(HoldoutFraction is > 0 and < 0.5, $"holdout fraction {HoldoutFraction} must be in (0, 0.5)");
    }

    private static void Check(bool ok, string message)
    {
        if (!ok) throw new ArgumentException(message);
    }
}

/// <summary>A generated data set and the truth it was drawn from.</summary>
internal sealed class SyntheticData(RecDataset dataset, Tensor userTaste, Tensor itemTaste, float[] itemLogPopularity, float sharpness)
{
    public RecDataset Dataset { get; } = dataset;
    /// <summary>Unit taste vectors the interactions were drawn from ([users × latent], [items × latent]).</summary>
    public Tensor UserTaste { get; } = userTaste;
    public Tensor ItemTaste { get; } = itemTaste;
    public float[] ItemLogPopularity { get; } = itemLogPopularity;
    public float Sharpness { get; } = sharpness;

    /// <summary>
    /// The oracle as a pair of embedding tables whose inner product is the true choice logit
    /// (sharpness·cos + log popularity): users [sharpness·taste, 1], items [taste, log popularity].
    /// Ranking by it is the best any model can do on this data.
    /// </summary>
    public (Tensor Users, Tensor Items) OracleVectors()
    {
        int l = UserTaste.Cols;
        var users = new Tensor(UserTaste.Rows, l + 1);
        for (int u = 0; u < users.Rows; u++)
        {
            TensorPrimitives.Multiply(UserTaste.Row(u), Sharpness, users.Row(u));
            users[u, l] = 1f;
        }
        var items = new Tensor(ItemTaste.Rows, l + 1);
        for (int i = 0; i < items.Rows; i++)
        {
            ItemTaste.Row(i).CopyTo(items.Row(i));
            items[i, l] = ItemLogPopularity[i];
        }
        return (users, items);
    }
}

/// <summary>
/// Draws a data set with known structure, deterministically from a seed. Topics have random unit
/// centres; an item's taste is its topic's centre plus noise, a user's taste mixes one or two topics.
/// An item's category comes from its topic, its tags mostly from its topic's pool, its features are a
/// noisy random projection of its taste; a user's profile features likewise. Popularity follows a
/// Zipf law over a random order of items. Each user's interactions are drawn without replacement from
/// softmax(sharpness·cos(user, item) + log popularity); their order is time, split into train,
/// validation and test per user.
/// </summary>
internal static class SyntheticGenerator
{
    public static SyntheticData Generate(SyntheticOptions o, IProgress<double>? progress = null, CancellationToken cancel = default)
    {
        o.Validate();
        var rng = new Rng(o.Seed);
        int l = o.LatentDim;

        var centres = new Tensor(o.Topics, l);
        for (int t = 0; t < o.Topics; t++) UnitGaussian(rng, centres.Row(t));

        // Items: topic, taste, category, tags, features, popularity.
        var itemTopic = new int[o.NumItems];
        var itemTaste = new Tensor(o.NumItems, l);
        Span<float> noise = stackalloc float[l];
        for (int i = 0; i < o.NumItems; i++)
        {
            int t = itemTopic[i] = rng.NextInt(o.Topics);
            MixUnit(itemTaste.Row(i), centres.Row(t), 1f, centres.Row(t), 0f, rng, noise, 0.8f);
        }
        var categories = new int[o.NumItems];
        int perTopic = Math.Max(1, o.Categories / o.Topics);
        for (int i = 0; i < o.NumItems; i++)
            categories[i] = o.Categories >= o.Topics ? Math.Min(o.Categories - 1, itemTopic[i] * perTopic + rng.NextInt(perTopic)) : itemTopic[i] % o.Categories;
        var (tagOffsets, tags) = DrawTags(o, itemTopic, rng);
        var itemFeatures = Project(itemTaste, o.ItemFeatures, rng, noise: 0.5f);
        var logPop = ZipfLogPopularity(o.NumItems, o.ZipfExponent, rng);

        // Users: taste from one topic, or two with a weaker second; profile features; activity.
        var userTaste = new Tensor(o.NumUsers, l);
        for (int u = 0; u < o.NumUsers; u++)
        {
            int t1 = rng.NextInt(o.Topics), t2 = rng.NextInt(o.Topics);
            float w2 = rng.NextFloat() < 0.5f ? 0.6f : 0f;
            MixUnit(userTaste.Row(u), centres.Row(t1), 1f, centres.Row(t2), w2, rng, noise, 0.5f);
        }
        var userFeatures = Project(userTaste, o.UserFeatures, rng, noise: 0.5f);
        var counts = InteractionCounts(o, rng);

        var sequences = DrawInteractions(o, userTaste, itemTaste, logPop, counts, progress, cancel);
        var (train, validation, test) = SplitByTime(sequences, o.HoldoutFraction);
        var catalog = new ItemCatalog(categories, o.Categories, tagOffsets, tags, o.Tags, itemFeatures);
        return new SyntheticData(new RecDataset(catalog, userFeatures, train, validation, test), userTaste, itemTaste, logPop, o.Sharpness);
    }

    private static void UnitGaussian(Rng rng, Span<float> v)
    {
        rng.FillNormal(v, 0f, 1f);
        TensorPrimitives.Divide(v, TensorPrimitives.Norm(v), v);
    }

    /// <summary>v = unit(a·wa + b·wb + noise·g), g a unit Gaussian direction.</summary>
    private static void MixUnit(Span<float> v, ReadOnlySpan<float> a, float wa, ReadOnlySpan<float> b, float wb, Rng rng, Span<float> g, float noise)
    {
        UnitGaussian(rng, g);
        for (int j = 0; j < v.Length; j++) v[j] = wa * a[j] + wb * b[j] + noise * g[j];
        TensorPrimitives.Divide(v, TensorPrimitives.Norm(v), v);
    }

    private static (int[] Offsets, int[] Tags) DrawTags(SyntheticOptions o, int[] itemTopic, Rng rng)
    {
        // Tag t belongs to topic t mod topics; an item draws each tag from its topic's pool with probability 0.8.
        int poolSize = Math.Max(1, o.Tags / o.Topics);
        var offsets = new int[o.NumItems + 1];
        var tags = new List<int>(o.NumItems * (o.MinTags + o.MaxTags) / 2);
        Span<int> chosen = stackalloc int[o.MaxTags];
        for (int i = 0; i < o.NumItems; i++)
        {
            int n = o.MinTags + rng.NextInt(o.MaxTags - o.MinTags + 1), have = 0;
            for (int attempt = 0; have < n && attempt < 20 * n; attempt++)
            {
                int tag = rng.NextFloat() < 0.8f ? Math.Min(o.Tags - 1, itemTopic[i] % o.Tags + o.Topics * rng.NextInt(poolSize)) : rng.NextInt(o.Tags);
                if (chosen[..have].Contains(tag)) continue;
                chosen[have++] = tag;
            }
            foreach (int t in chosen[..have]) tags.Add(t);
            offsets[i + 1] = tags.Count;
        }
        return (offsets, tags.ToArray());
    }

    /// <summary>features = taste·W + noise, W a random Gaussian [latent × features] projection (unit taste → unit-variance features).</summary>
    private static Tensor Project(Tensor taste, int features, Rng rng, float noise)
    {
        var w = Tensor.Randn(rng, 1f, taste.Cols, features);
        var x = new Tensor(taste.Rows, features);
        Gemm.Multiply(taste, false, w, false, x);
        Span<float> g = stackalloc float[features];
        for (int r = 0; r < x.Rows; r++)
        {
            rng.FillNormal(g, 0f, noise);
            TensorPrimitives.Add(x.Row(r), g, x.Row(r));
        }
        return x;
    }

    private static float[] ZipfLogPopularity(int items, double exponent, Rng rng)
    {
        var rank = new int[items];
        for (int i = 0; i < items; i++) rank[i] = i + 1;
        rng.Shuffle(rank.AsSpan());
        var logPop = new float[items];
        double logZ = Math.Log(Enumerable.Range(1, items).Sum(r => Math.Pow(r, -exponent)));
        for (int i = 0; i < items; i++) logPop[i] = (float)(-exponent * Math.Log(rank[i]) - logZ);
        return logPop;
    }

    /// <summary>Per-user interaction counts: log-normal activity, at least 3 each, summing to exactly the requested total.</summary>
    private static int[] InteractionCounts(SyntheticOptions o, Rng rng)
    {
        const int min = 3;
        var weight = new double[o.NumUsers];
        for (int u = 0; u < o.NumUsers; u++) weight[u] = Math.Exp(0.6 * rng.NextNormal());
        double total = weight.Sum();
        int spare = o.NumInteractions - min * o.NumUsers;
        int cap = o.NumItems / 2;
        var counts = new int[o.NumUsers];
        long assigned = 0;
        for (int u = 0; u < o.NumUsers; u++) { counts[u] = Math.Min(cap, min + (int)(spare * weight[u] / total)); assigned += counts[u]; }
        for (long left = o.NumInteractions - assigned; left > 0;)
        {
            int u = rng.NextInt(o.NumUsers);
            if (counts[u] < cap) { counts[u]++; left--; }
        }
        return counts;
    }

    private static int[][] DrawInteractions(SyntheticOptions o, Tensor userTaste, Tensor itemTaste, float[] logPop, int[] counts,
        IProgress<double>? progress, CancellationToken cancel)
    {
        var sequences = new int[o.NumUsers][];
        int done = 0;
        const int block = 64;
        int blocks = (o.NumUsers + block - 1) / block;
        Parallel.For(0, blocks, new ParallelOptions { CancellationToken = cancel, MaxDegreeOfParallelism = Threads.Count }, () => (new float[block * o.NumItems], new double[o.NumItems], new int[o.NumItems]),
            (b, _, scratch) =>
            {
                var (logits, cumulative, stamp) = scratch;
                int u0 = b * block, n = Math.Min(block, o.NumUsers - u0);
                var logitsT = Tensor.FromArray(logits, block, o.NumItems).RowRange(0, n);
                Gemm.Multiply(userTaste.RowRange(u0, n), false, itemTaste, true, logitsT, threads: 1);
                for (int r = 0; r < n; r++)
                {
                    int u = u0 + r;
                    var row = logitsT.Row(r);
                    TensorPrimitives.Multiply(row, o.Sharpness, row);
                    TensorPrimitives.Add(row, logPop, row);
                    float max = TensorPrimitives.Max(row);
                    TensorPrimitives.Subtract(row, max, row);
                    TensorPrimitives.Exp(row, row);
                    double sum = 0;
                    for (int i = 0; i < row.Length; i++) cumulative[i] = sum += row[i];
                    var rng = new Rng(o.Seed ^ (0xD1B54A32D192ED03UL * (ulong)(u + 1)));
                    var seq = sequences[u] = new int[counts[u]];
                    int have = 0;
                    for (int attempt = 0; have < seq.Length; attempt++)
                    {
                        int item = attempt < 50 * seq.Length ? Draw(cumulative, rng.NextDouble() * sum) : rng.NextInt(o.NumItems);
                        if (stamp[item] == u + 1) continue;  // without replacement: one interaction per user and item
                        stamp[item] = u + 1;
                        seq[have++] = item;
                    }
                }
                progress?.Report((double)Interlocked.Add(ref done, n) / o.NumUsers);
                return scratch;
            }, _ => { });
        return sequences;
    }

    private static int Draw(double[] cumulative, double x)
    {
        int i = Array.BinarySearch(cumulative, x);
        return Math.Min(cumulative.Length - 1, i >= 0 ? i : ~i);
    }

    private static (UserItemLists Train, UserItemLists Validation, UserItemLists Test) SplitByTime(int[][] sequences, double fraction)
    {
        var train = new List<int>[sequences.Length];
        var val = new List<int>[sequences.Length];
        var test = new List<int>[sequences.Length];
        for (int u = 0; u < sequences.Length; u++)
        {
            var s = sequences[u];
            int held = Math.Max(1, (int)Math.Round(fraction * s.Length));
            int trainEnd = s.Length - 2 * held;
            train[u] = [.. s[..trainEnd]];
            val[u] = [.. s[trainEnd..(trainEnd + held)]];
            test[u] = [.. s[(trainEnd + held)..]];
        }
        return (UserItemLists.FromLists(train), UserItemLists.FromLists(val), UserItemLists.FromLists(test));
    }
}
