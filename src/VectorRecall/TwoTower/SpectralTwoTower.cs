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
/// the weaker directions count and α how much a popular history item is discounted (GF-CF's ½). The graph itself may be
/// normalised as D_u^(−ε) R D_i^(−ε) (SGFCF's generalised normalisation, Peng et al., 2024), the rows then being
/// d_i^(−α) V_i and d_j^ε V_j: a smaller ε lets popular users and items shape the directions more. <see cref="BuildSelected"/>
/// picks all four by validation recall. A window ρ fades the weakest fraction ρ of the k directions linearly to zero
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

    /// <summary>GF-CF's and LightGCN's symmetric normalisation of the graph, ε = ½ in D_u^(−ε) R D_i^(−ε).</summary>
    public const float DefaultNormalization = 0.5f;

    /// <summary>
    /// How far <see cref="BuildSelected"/> moves ε per step. It takes <see cref="NormalizationSteps"/> steps from ½ at the
    /// chosen rank: the first towards a smaller ε, then on in the direction that paid (or back across ½ if it did not).
    /// Each step is one more decomposition, so the search is short.
    /// </summary>
    public const float NormalizationStep = 0.1f;

    /// <summary>The steps <see cref="BuildSelected"/> takes in ε (see <see cref="NormalizationStep"/>).</summary>
    public const int NormalizationSteps = 2;

    /// <summary>
    /// The degree exponents α <see cref="BuildSelected"/> tries once the rank and γ are chosen at <see cref="DefaultDegreeExponent"/>:
    /// a smaller α lets a user's popular items speak louder.
    /// </summary>
    public static readonly float[] CandidateDegreeExponents = [0.2f, 0.3f, 0.4f, 0.5f, 0.6f];

    /// <summary>
    /// The model over <paramref name="interactions"/> (id-only data) with <paramref name="rank"/> eigenvectors of the graph
    /// normalised with exponent <paramref name="normalization"/> (ε), each direction weighted by its eigenvalue to the power
    /// <paramref name="exponent"/> (0: the ideal low-pass filter), each history item's row divided by its degree to the power
    /// <paramref name="degreeExponent"/>, and the weakest fraction <paramref name="taper"/> of the directions faded linearly
    /// to zero (0: a sharp cutoff).
    /// </summary>
    /// <remarks><paramref name="start"/>: eigenvectors of a graph with fewer interactions over the same items (the training split's, when
    /// building on train and validation), which make the decomposition a short refinement.</remarks>
    public static TwoTowerModel Build(RecDataset data, UserItemLists interactions, int rank, float exponent = 0, float degreeExponent = DefaultDegreeExponent,
        float taper = 0, IProgress<int>? progress = null, Tensor? start = null, float normalization = DefaultNormalization)
    {
        CheckIdOnly(data);
        if (rank < 1 || rank > data.ItemCount) throw new ArgumentOutOfRangeException(nameof(rank), $"the spectral rank must be in [1, {data.ItemCount}], got {rank}");
        if (!(exponent >= 0)) throw new ArgumentOutOfRangeException(nameof(exponent), $"the eigenvalue exponent must be >= 0, got {exponent}");
        if (!(degreeExponent >= 0 && degreeExponent <= 1)) throw new ArgumentOutOfRangeException(nameof(degreeExponent), $"the degree exponent must be in [0, 1], got {degreeExponent}");
        if (!(taper >= 0 && taper <= 1)) throw new ArgumentOutOfRangeException(nameof(taper), $"the taper must be in [0, 1], got {taper}");
        if (!(normalization >= 0 && normalization <= 1)) throw new ArgumentOutOfRangeException(nameof(normalization), $"the normalisation exponent must be in [0, 1], got {normalization}");
        var (factors, values, _) = IdealLowPassFilter.Decompose(interactions, data.ItemCount, [rank], progress, start, normalization);
        var (bag, table) = factors[0];
        Weight(bag, values, exponent, taper);
        bag = Discounted(bag, interactions.ItemCounts(data.ItemCount), degreeExponent, normalization);
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
    /// Picks the rank among <see cref="CandidateRanks"/> and the exponent among <see cref="CandidateExponents"/> at GF-CF's
    /// normalisation (one eigendecomposition serves every rank: the leading vectors are shared); then the normalisation ε in
    /// up to <see cref="NormalizationSteps"/> steps of <see cref="NormalizationStep"/> from ½ at that rank, with α = ε and
    /// every γ again (one decomposition per step); then the degree exponent among
    /// <see cref="CandidateDegreeExponents"/>. Each is judged by validation Recall@<paramref name="k"/> (on up to
    /// <see cref="SelectionUsers"/> users) of the model built on the training split, and a step in ε is taken only when it
    /// is <see cref="ClearlyBetter"/>: a split drawn from the training data overrates how far popularity carries (it cannot
    /// see the catalogue drift that a later test split holds), so ε leaves ½ only on evidence well beyond the noise.
    /// The choice is then built on train and validation together, starting from the training split's eigenvectors.
    /// <paramref name="progress"/> hears of every step (<see cref="SelectionSteps"/>). Without a validation split: rank 256
    /// (capped by the catalogue), γ = 0, α = ε = ½, with the window.
    /// </summary>
    public static (TwoTowerModel Model, SpectralChoice Chosen, IReadOnlyList<SpectralChoice> Scores) BuildSelected(RecDataset data, int k = 20, IProgress<int>? progress = null)
    {
        CheckIdOnly(data);
        var scores = new List<SpectralChoice>();
        // The selection's tables and indexes are out of reach once it returns: the final build needs the memory.
        var (best, start) = Select(data, k, progress, scores);
        ReleaseGarbage();
        var model = Build(data, data.Train.Concat(data.Validation), best.Rank, best.EigenvalueExponent, best.DegreeExponent, best.Taper, progress, start, best.Normalization);
        ReleaseGarbage();
        return (model, best, scores);
    }

    /// <summary>
    /// Collects and hands back to the system what the phase just ended left behind: each decomposition leaves gigabytes of
    /// blocks and tables on the large-object heap, which a GC with memory to spare leaves resident (Gowalla at k = 2,048:
    /// 13.8 GB of RSS for a live set near 7; 8.4 GB with these). A handful of full collections per build, each a fraction of a second.
    /// </summary>
    private static void ReleaseGarbage() => GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);

    /// <summary>
    /// <see cref="BuildSelected"/>'s choice, each candidate's score added to <paramref name="scores"/>, and the training split's
    /// eigenvectors at the chosen normalisation to start the final build from (null without a validation split).
    /// </summary>
    private static (SpectralChoice Best, Tensor? Start) Select(RecDataset data, int k, IProgress<int>? progress, List<SpectralChoice> scores)
    {
        var ranks = Ranks(data);
        var users = Enumerable.Range(0, data.UserCount).Where(u => data.Validation.CountOf(u) > 0 && data.Train.CountOf(u) > 0).ToArray();
        if (users.Length > SelectionUsers) users = Enumerable.Range(0, SelectionUsers).Select(i => users[(int)((long)i * users.Length / SelectionUsers)]).ToArray();
        var best = new SpectralChoice(ranks.Contains(256) ? 256 : ranks[^1], 0, DefaultDegreeExponent, Window, double.NaN, DefaultNormalization);
        Tensor? start = null;
        if (users.Length > 0)
        {
            var degrees = data.Train.ItemCounts(data.ItemCount);
            var histories = UserBatch.Gather(users, data.UserFeatures, data.Train, int.MaxValue);
            int top = Math.Min(k, data.ItemCount);
            var relevant = users.Select(u => new HashSet<int>(data.Validation.Of(u).ToArray())).ToArray();
            // Each candidate's bags over the histories are summed once, as served (the mean would scale a user's scores,
            // not their order), then weighted per γ.
            Tensor Summed(Tensor userSide, float degreeExponent, float normalization)
            {
                var rows = Discounted(userSide, degrees, degreeExponent, normalization);
                return Tape.NoGrad(() => Ops.EmbeddingBag(rows, histories.HistoryItems, histories.HistoryOffsets, BagMode.Sum).Value);
            }
            // A candidate's validation recall, and each user's.
            (SpectralChoice Choice, double[] Recalls) Score(IndexRetriever index, Tensor summed, float[] values, SpectralChoice candidate)
            {
                var queries = summed.Clone();
                Weight(queries, values, candidate.EigenvalueExponent, Window);
                var recalls = new double[users.Length];
                int done = 0;
                RetrievalEvaluator.Rank(index, queries, users, data.Train, top, 0, 1024, (user, ranked) =>
                {
                    recalls[done] = RankingMetrics.RecallOf(ranked, relevant[done]);
                    done++;
                });
                var choice = candidate with { Recall = recalls.Average() };
                scores.Add(choice);
                progress?.Report(scores.Count);
                return (choice, recalls);
            }
            // The best γ for one decomposition's factors at one rank, α = ε.
            (SpectralChoice Choice, double[] Recalls) BestExponent(IndexRetriever index, Tensor userSide, float[] values, int rank, float normalization)
            {
                var summed = Summed(userSide, normalization, normalization);
                (SpectralChoice Choice, double[] Recalls)? found = null;
                foreach (float exponent in CandidateExponents)
                {
                    var scored = Score(index, summed, values, new SpectralChoice(rank, exponent, normalization, Window, double.NaN, normalization));
                    if (found is null || scored.Choice.Recall > found.Value.Choice.Recall) found = scored;
                }
                return found!.Value;
            }

            var (factors, values, vectors) = IdealLowPassFilter.Decompose(data.Train, data.ItemCount, ranks, progress);
            IndexRetriever? index = null;
            var side = factors[0].UserSide;
            double[] bestRecalls = [];
            // The best candidate's index is kept for the steps after; the loser of each comparison is disposed.
            for (int r = 0; r < ranks.Length; r++)
            {
                var candidate = new IndexRetriever(TowerEncoder.BuildIndex(factors[r].ItemSide, "Flat"));
                var (choice, recalls) = BestExponent(candidate, factors[r].UserSide, values, ranks[r], DefaultNormalization);
                if (!(choice.Recall <= best.Recall)) (best, bestRecalls, index, side, candidate) = (choice, recalls, candidate, factors[r].UserSide, index);
                candidate?.Dispose();
            }
            // Only the chosen rank's user side (and its index) is used from here: the other tables can go before each step
            // decomposes again.
            factors = [];
            ReleaseGarbage();
            float step = -NormalizationStep, at = DefaultNormalization;
            for (int s = 0; s < NormalizationSteps; s++)
            {
                float normalization = MathF.Round(at + step, 2);
                // From a random start: started from the last step's vectors, a few products leave a new graph's tail less
                // converged (Gowalla, ε 0.4: validation Recall@20 0.2236 against 0.2245), and the final build refines this one.
                var (stepFactors, stepValues, stepVectors) = IdealLowPassFilter.Decompose(data.Train, data.ItemCount, [best.Rank], progress, normalization: normalization);
                var candidate = new IndexRetriever(TowerEncoder.BuildIndex(stepFactors[0].ItemSide, "Flat"));
                var (choice, recalls) = BestExponent(candidate, stepFactors[0].UserSide, stepValues, best.Rank, normalization);
                if (ClearlyBetter(recalls, bestRecalls))
                    (best, bestRecalls, index, side, values, vectors, candidate, at) = (choice, recalls, candidate, stepFactors[0].UserSide, stepValues, stepVectors, index, normalization);
                else if (s == 0) step = -step;
                candidate?.Dispose();
                ReleaseGarbage();
            }
            foreach (float degreeExponent in CandidateDegreeExponents.Where(a => a != best.DegreeExponent))
            {
                var (choice, _) = Score(index!, Summed(side, degreeExponent, best.Normalization), values, best with { DegreeExponent = degreeExponent });
                if (choice.Recall > best.Recall) best = choice;
            }
            index?.Dispose();
            start = vectors;
        }
        return (best, start);
    }

    /// <summary>
    /// Whether per-user scores <paramref name="candidate"/> beat <paramref name="incumbent"/>'s (the same users, in the same
    /// order) by more than twice the standard error of their paired difference: a gain the selection's noise does not explain.
    /// </summary>
    public static bool ClearlyBetter(IReadOnlyList<double> candidate, IReadOnlyList<double> incumbent)
    {
        if (candidate.Count != incumbent.Count) throw new ArgumentException($"{candidate.Count} scores against {incumbent.Count}");
        int n = candidate.Count;
        if (n < 2) return false;
        double mean = 0, squares = 0;
        for (int i = 0; i < n; i++) mean += candidate[i] - incumbent[i];
        mean /= n;
        for (int i = 0; i < n; i++) squares += Math.Pow(candidate[i] - incumbent[i] - mean, 2);
        double standardError = Math.Sqrt(squares / (n - 1) / n);
        return mean > 2 * standardError;
    }

    /// <summary>
    /// The reports <see cref="BuildSelected"/> makes to its progress: one per subspace iteration (the training split's
    /// decomposition, each step in ε's, then the warm one on train and validation) and one per candidate scored.
    /// </summary>
    public static int SelectionSteps(RecDataset data) =>
        TruncatedEigen.DefaultIterations + TruncatedEigen.WarmIterations + Ranks(data).Length * CandidateExponents.Length
        + NormalizationSteps * (TruncatedEigen.DefaultIterations + CandidateExponents.Length) + CandidateDegreeExponents.Length - 1;

    /// <summary>The candidate ranks for <paramref name="data"/>: up to an eighth of the catalogue, within half the available memory.</summary>
    private static int[] Ranks(RecDataset data)
    {
        long memory = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 2;
        return CandidateRanks.Where(r => r <= Math.Max(1, data.ItemCount / 8) && DecompositionBytes(data.UserCount, data.ItemCount, r) <= memory)
            .DefaultIfEmpty(Math.Max(1, Math.Min(CandidateRanks[0], data.ItemCount / 8))).ToArray();
    }

    /// <summary>
    /// Bytes <see cref="BuildSelected"/> holds at its peak when <paramref name="rank"/> is the largest candidate, the most of
    /// its three phases. Every decomposition holds its iterated block and products (items × (rank + oversampling), four of
    /// them, and users × the same once) and its eigenvectors (items × rank). The first also makes the factor tables of
    /// every candidate rank up to this one (a user and an item side each). A step in ε decomposes again beside the chosen
    /// rank's user side and index, and makes its own tables and index. The final build decomposes from the training
    /// split's eigenvectors, then holds its tables, the discounted bag and the model (users × rank and two item tables).
    /// </summary>
    public static long DecompositionBytes(int users, int items, int rank)
    {
        long table = (long)items * rank;
        long decomposition = (long)(rank + 32) * (4L * items + users) + table;
        long first = decomposition + 2L * items * CandidateRanks.Where(r => r <= rank).Sum();
        long step = 2 * table + decomposition + 3 * table;
        long model = (long)users * rank + 2 * table;
        long final = Math.Max(table + decomposition, table + 2 * table + table + model);
        return sizeof(float) * Math.Max(first, Math.Max(step, final));
    }

    /// <summary>
    /// The user side's rows d_i^(−ε) V_i (as <see cref="IdealLowPassFilter"/> gives them for normalisation ε) with the
    /// discount d_i^(−α) instead: a new table, or the same one when α = ε.
    /// </summary>
    private static Tensor Discounted(Tensor userSide, int[] degrees, float degreeExponent, float normalization)
    {
        if (degreeExponent == normalization) return userSide;
        var result = new Tensor(userSide.Rows, userSide.Cols);
        for (int i = 0; i < userSide.Rows; i++)
            if (degrees[i] > 0) TensorPrimitives.Multiply(userSide.Row(i), MathF.Pow(degrees[i], normalization - degreeExponent), result.Row(i));
        return result;
    }

    /// <summary>
    /// Scales column c of <paramref name="rows"/> (k columns) by λ_c^γ (eigenvalues clamped at 0) times the window
    /// min(1, (k − c)/(ρk)); γ = 0 and ρ = 0 leave them as they are.
    /// </summary>
    internal static void Weight(Tensor rows, float[] eigenvalues, float exponent, float taper)
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
