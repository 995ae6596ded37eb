using VectorRecall.Autograd;
using VectorRecall.Data;
using VectorRecall.Nn;
using VectorRecall.Numerics;
using VectorRecall.Retrieval;
using VectorRecall.Towers;

namespace VectorRecall.TwoTower;

/// <summary>
/// A two-tower model in closed form, with no training: GF-CF's ideal low-pass filter (Shen et al., 2021) written as an
/// inner product, each direction optionally weighted by its eigenvalue. With R̃ = D_u^(−1/2) R D_i^(−1/2) and V, Λ the
/// leading k eigenvectors and eigenvalues of R̃ᵀR̃, a user with interaction row r scores item j by
/// r·D_i^(−α)·V·Λ^γ·(d_j^(1/2) V_j)ᵀ: a sum over the user's items of a per-item row. The user tower is then a bag over the
/// history with rows d_i^(−α) V_i Λ^γ, the item tower a table with rows d_j^(1/2) V_j, and both pass their input through
/// unchanged (identity heads, no normalisation): k-wide vectors that HNSW and the service search as any other bundle, and
/// a history given at serving time (a new user) is scored the same way. k sets how smooth the filter is, γ how much
/// the weaker directions count and α how much a popular history item is discounted (GF-CF's ½); <see cref="BuildSelected"/>
/// picks all three by validation recall. A window ρ fades the weakest fraction ρ of the k directions linearly to zero
/// instead of cutting them off (1: the weight of direction c falls as 1 − c/k), as a window softens a truncated filter.
/// </summary>
public static class SpectralTwoTower
{
    /// <summary>The ranks <see cref="BuildSelected"/> tries: those up to an eighth of the catalogue whose decomposition fits in memory (<see cref="DecompositionBytes"/>).</summary>
    public static readonly int[] CandidateRanks = [64, 128, 256, 512, 1024, 2048];

    /// <summary>
    /// Validation users <see cref="BuildSelected"/> scores each candidate on, at most: an even sample of them beyond this.
    /// Every candidate ranks the whole catalogue for each, so this bounds the selection's cost on large data. Close
    /// candidates stay within the noise either way (one held-out item per user); on Gowalla the choice made on 10,000
    /// users is also the best of those scored on all 29,858.
    /// </summary>
    public const int SelectionUsers = 10_000;

    /// <summary>The exponents γ <see cref="BuildSelected"/> tries: each direction weighted by λ^γ (0: GF-CF's ideal low-pass filter).</summary>
    public static readonly float[] CandidateExponents = [0f, 0.25f, 0.5f, 0.75f, 1f];

    /// <summary>
    /// The taper <see cref="BuildSelected"/> builds with: every kept direction's weight falls linearly with its position,
    /// λ_c^γ·(1 − c/k). A sharp cutoff keeps the truncation's ripple; the window lets a large k keep detail without it.
    /// Fixed rather than selected: the single held-out item per user of a validation split cannot tell windows apart
    /// (README: the spectral two-tower's measurements).
    /// </summary>
    public const float Window = 1f;

    /// <summary>GF-CF's discount of a history item by its degree, d_i^(−½).</summary>
    public const float DefaultDegreeExponent = 0.5f;

    /// <summary>
    /// The degree exponents α <see cref="BuildSelected"/> tries once the rank and γ are chosen at <see cref="DefaultDegreeExponent"/>:
    /// a smaller α lets a user's popular items speak louder.
    /// </summary>
    public static readonly float[] CandidateDegreeExponents = [0.2f, 0.3f, 0.4f, 0.5f, 0.6f];

    /// <summary>
    /// The model over <paramref name="interactions"/> (id-only data) with <paramref name="rank"/> eigenvectors, each
    /// direction weighted by its eigenvalue to the power <paramref name="exponent"/> (0: the ideal low-pass filter), each
    /// history item's row divided by its degree to the power <paramref name="degreeExponent"/>, and the weakest fraction
    /// <paramref name="taper"/> of the directions faded linearly to zero (0: a sharp cutoff).
    /// </summary>
    /// <remarks><paramref name="start"/>: eigenvectors of a graph with fewer interactions over the same items (the training split's, when
    /// building on train and validation), which make the decomposition a short refinement.</remarks>
    public static TwoTowerModel Build(RecDataset data, UserItemLists interactions, int rank, float exponent = 0, float degreeExponent = DefaultDegreeExponent,
        float taper = 0, IProgress<int>? progress = null, Tensor? start = null)
    {
        CheckIdOnly(data);
        if (rank < 1 || rank > data.ItemCount) throw new ArgumentOutOfRangeException(nameof(rank), $"the spectral rank must be in [1, {data.ItemCount}], got {rank}");
        if (!(exponent >= 0)) throw new ArgumentOutOfRangeException(nameof(exponent), $"the eigenvalue exponent must be >= 0, got {exponent}");
        if (!(degreeExponent >= 0 && degreeExponent <= 1)) throw new ArgumentOutOfRangeException(nameof(degreeExponent), $"the degree exponent must be in [0, 1], got {degreeExponent}");
        if (!(taper >= 0 && taper <= 1)) throw new ArgumentOutOfRangeException(nameof(taper), $"the taper must be in [0, 1], got {taper}");
        var (factors, values, _) = IdealLowPassFilter.Decompose(interactions, data.ItemCount, [rank], progress, start);
        var (bag, table) = factors[0];
        Weight(bag, values, exponent, taper);
        bag = Discounted(bag, interactions.ItemCounts(data.ItemCount), degreeExponent);
        int longest = 1;
        for (int u = 0; u < data.UserCount; u++) longest = Math.Max(longest, interactions.CountOf(u));
        var config = new TowerConfig
        {
            NumUsers = data.UserCount, NumItems = data.ItemCount, IdDim = rank, BehaviourDim = rank, Hidden = [], EmbeddingDim = rank, Dropout = 0,
            HistoryLength = longest, NormalizeOutput = false, OutputBias = false,
        };
        var model = new TwoTowerModel(config, new Rng(1));
        bag.Span.CopyTo(model.User.Behaviour.Weight.Value.Span);
        table.Span.CopyTo(model.Item.Id.Weight.Value.Span);
        model.User.Id.Weight.Value.Span.Clear();
        // Heads: the item's table row as it is; the user's bag as it is (the id part, zeros, is dropped).
        var itemHead = ((Linear)model.Item.Mlp.Layers[0]).Weight.Value;
        var userHead = ((Linear)model.User.Mlp.Layers[0]).Weight.Value;
        itemHead.Span.Clear();
        userHead.Span.Clear();
        for (int c = 0; c < rank; c++)
        {
            itemHead[c, c] = 1f;
            userHead[c, rank + c] = 1f;
        }
        return model;
    }

    /// <summary>
    /// Picks the rank among <see cref="CandidateRanks"/> and the exponent among <see cref="CandidateExponents"/>, then the
    /// degree exponent among <see cref="CandidateDegreeExponents"/> for that pair, by validation Recall@<paramref name="k"/>
    /// (on up to <see cref="SelectionUsers"/> users) of the model built on the training split (one eigendecomposition serves
    /// every candidate: the leading vectors are shared), then builds the choice on train and validation together, starting
    /// from the training split's eigenvectors. <paramref name="progress"/> hears of every step (<see cref="SelectionSteps"/>).
    /// Without a validation split: rank 256 (capped by the catalogue), γ = 0, α = ½, with the window.
    /// </summary>
    public static (TwoTowerModel Model, SpectralChoice Chosen, IReadOnlyList<SpectralChoice> Scores) BuildSelected(RecDataset data, int k = 20, IProgress<int>? progress = null)
    {
        CheckIdOnly(data);
        var ranks = Ranks(data);
        var users = Enumerable.Range(0, data.UserCount).Where(u => data.Validation.CountOf(u) > 0 && data.Train.CountOf(u) > 0).ToArray();
        if (users.Length > SelectionUsers) users = Enumerable.Range(0, SelectionUsers).Select(i => users[(int)((long)i * users.Length / SelectionUsers)]).ToArray();
        var scores = new List<SpectralChoice>();
        var best = new SpectralChoice(ranks.Contains(256) ? 256 : ranks[^1], 0, DefaultDegreeExponent, Window, double.NaN);
        Tensor? start = null;
        if (users.Length > 0)
        {
            var (factors, values, vectors) = IdealLowPassFilter.Decompose(data.Train, data.ItemCount, ranks, progress);
            var degrees = data.Train.ItemCounts(data.ItemCount);
            var histories = UserBatch.Gather(users, data.UserFeatures, data.Train, int.MaxValue);
            int top = Math.Min(k, data.ItemCount);
            // Each rank's table indexed once; each (rank, α)'s bags over the histories summed once, as served (the mean
            // would scale a user's scores, not their order), then weighted per γ.
            var indexes = new IndexRetriever?[ranks.Length];
            SpectralChoice Score(int r, Tensor summed, float exponent, float degreeExponent)
            {
                indexes[r] ??= new IndexRetriever(TowerEncoder.BuildIndex(factors[r].ItemSide, "Flat"));
                var queries = summed.Clone();
                Weight(queries, values, exponent, Window);
                double recall = RetrievalEvaluator.Evaluate(indexes[r]!, queries, users, data.Validation, data.Train, [top]).Metrics.Get(RankingMetric.Recall, top);
                var choice = new SpectralChoice(ranks[r], exponent, degreeExponent, Window, recall);
                scores.Add(choice);
                progress?.Report(scores.Count);
                return choice;
            }
            Tensor Summed(int r, float degreeExponent)
            {
                var rows = Discounted(factors[r].UserSide, degrees, degreeExponent);
                return Tape.NoGrad(() => Ops.EmbeddingBag(rows, histories.HistoryItems, histories.HistoryOffsets, BagMode.Sum).Value);
            }
            int chosen = 0;
            for (int r = 0; r < ranks.Length; r++)
            {
                var summed = Summed(r, DefaultDegreeExponent);
                foreach (float exponent in CandidateExponents)
                {
                    var choice = Score(r, summed, exponent, DefaultDegreeExponent);
                    if (!(choice.Recall <= best.Recall)) (best, chosen) = (choice, r);
                }
            }
            foreach (float degreeExponent in CandidateDegreeExponents.Where(a => a != DefaultDegreeExponent))
            {
                var choice = Score(chosen, Summed(chosen, degreeExponent), best.EigenvalueExponent, degreeExponent);
                if (choice.Recall > best.Recall) best = choice;
            }
            foreach (var index in indexes) index?.Dispose();
            start = vectors;
        }
        var model = Build(data, data.Train.Concat(data.Validation), best.Rank, best.EigenvalueExponent, best.DegreeExponent, best.Taper, progress, start);
        return (model, best, scores);
    }

    /// <summary>
    /// The reports <see cref="BuildSelected"/> makes to its progress: one per subspace iteration (the training split's
    /// decomposition, then the warm one) and one per candidate scored.
    /// </summary>
    public static int SelectionSteps(RecDataset data) =>
        TruncatedEigen.DefaultIterations + TruncatedEigen.WarmIterations + Ranks(data).Length * CandidateExponents.Length + CandidateDegreeExponents.Count(a => a != DefaultDegreeExponent);

    /// <summary>The candidate ranks for <paramref name="data"/>: up to an eighth of the catalogue, within half the available memory.</summary>
    private static int[] Ranks(RecDataset data)
    {
        long memory = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 2;
        return CandidateRanks.Where(r => r <= Math.Max(1, data.ItemCount / 8) && DecompositionBytes(data.UserCount, data.ItemCount, r) <= memory)
            .DefaultIfEmpty(Math.Max(1, Math.Min(CandidateRanks[0], data.ItemCount / 8))).ToArray();
    }

    /// <summary>
    /// Bytes a decomposition at <paramref name="rank"/> holds at its peak, roughly: the iterated block and its products
    /// (items × (rank + oversampling), four of them, and users × the same once) and the factor tables of every
    /// candidate rank up to it.
    /// </summary>
    public static long DecompositionBytes(int users, int items, int rank)
    {
        long block = (long)(rank + 32) * (4L * items + users);
        long tables = 2L * items * CandidateRanks.Where(r => r <= rank).Sum();
        return sizeof(float) * (block + tables);
    }

    /// <summary>
    /// The user side's rows d_i^(−½) V_i (as <see cref="IdealLowPassFilter"/> gives them) with the discount d_i^(−α) instead:
    /// a new table, or the same one when α = ½.
    /// </summary>
    private static Tensor Discounted(Tensor userSide, int[] degrees, float degreeExponent)
    {
        if (degreeExponent == DefaultDegreeExponent) return userSide;
        var result = new Tensor(userSide.Rows, userSide.Cols);
        for (int i = 0; i < userSide.Rows; i++)
            if (degrees[i] > 0) TensorPrimitives.Multiply(userSide.Row(i), MathF.Pow(degrees[i], DefaultDegreeExponent - degreeExponent), result.Row(i));
        return result;
    }

    /// <summary>
    /// Scales column c of <paramref name="rows"/> (k columns) by λ_c^γ (eigenvalues clamped at 0) times the window
    /// min(1, (k − c)/(ρk)); γ = 0 and ρ = 0 leave them as they are.
    /// </summary>
    private static void Weight(Tensor rows, float[] eigenvalues, float exponent, float taper)
    {
        if (exponent == 0 && taper == 0) return;
        int k = rows.Cols;
        var w = new float[k];
        for (int c = 0; c < k; c++) w[c] = MathF.Pow(Math.Max(eigenvalues[c], 0f), exponent) * (taper == 0 ? 1f : Math.Min(1f, (k - c) / (taper * k)));
        for (int r = 0; r < rows.Rows; r++) TensorPrimitives.Multiply(rows.Row(r), w, rows.Row(r));
    }

    private static void CheckIdOnly(RecDataset data)
    {
        if (data.UserFeatures.Cols > 0 || data.Items.FeatureCount > 0 || data.Items.CategoryCount > 0 || data.Items.TagCount > 0)
            throw new ArgumentException("the spectral model reads interactions alone; this data set has user or item features (train the towers: --spectral-rank 0)");
    }
}
