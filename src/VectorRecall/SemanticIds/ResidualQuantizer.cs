using System.Buffers;
using VectorRecall.Autograd;
using VectorRecall.Nn;
using VectorRecall.Numerics;

namespace VectorRecall.SemanticIds;

/// <summary>What <see cref="ResidualQuantizer.Forward"/> gives back: the quantised vectors (straight-through), the quantisation loss and the codes [rows × levels].</summary>
internal sealed record QuantizerOutput(Variable Quantized, Variable Loss, int[] Codes);

/// <summary>
/// Residual vector quantisation: level 0 picks the codeword nearest (squared L2) to the vector,
/// each next level the codeword nearest to what the levels before left over, and the vector is
/// represented by the sum of its codewords. Training passes the decoder's gradient straight
/// through to the encoder (the output is z + sg(Σq − z)); each level adds a codebook loss
/// ‖q − sg(r)‖² that moves its codewords and a commitment loss ‖sg(q) − r‖² that holds the encoder
/// to them, where r = z − sg(q₀ + … ) is that level's residual.
/// </summary>
internal sealed class ResidualQuantizer : Module
{
    private readonly Parameter[] _codebooks;
    private readonly Tensor _initialized;

    public ResidualQuantizer(int dim, IReadOnlyList<int> sizes, float beta, Rng rng)
    {
        Dim = dim;
        Beta = beta;
        _codebooks = new Parameter[sizes.Count];
        for (int l = 0; l < sizes.Count; l++)
        {
            if (sizes[l] < 1) throw new ArgumentOutOfRangeException(nameof(sizes), $"codebook sizes must be positive, got {sizes[l]} for level {l}");
            // As nn.Embedding's uniform start in the reference implementation: U(−1/K, 1/K).
            _codebooks[l] = RegisterParameter($"codebook_{l}", new Parameter(Tensor.Uniform(rng, -1f / sizes[l], 1f / sizes[l], sizes[l], dim)));
        }
        _initialized = RegisterBuffer("initialized", Tensor.Zeros(1));
    }

    public int Dim { get; }
    /// <summary>Weight of the commitment loss against the codebook loss (β).</summary>
    public float Beta { get; }
    public int Levels => _codebooks.Length;
    public Tensor Codebook(int level) => _codebooks[level].Value;
    public int CodebookSize(int level) => _codebooks[level].Rows;

    /// <summary>Whether the codebooks were set by k-means (kept in the state dict, so a loaded model does not re-initialise).</summary>
    public bool Initialized
    {
        get => _initialized[0] != 0;
        set => _initialized[0] = value ? 1 : 0;
    }

    /// <summary>
    /// Quantises the rows of <paramref name="z"/> [rows × dim]. Levels whose <paramref name="skEpsilons"/> entry is
    /// positive assign codes by Sinkhorn-Knopp over the batch instead of nearest-codeword.
    /// </summary>
    public QuantizerOutput Forward(Variable z, ReadOnlySpan<float> skEpsilons = default, int skIters = 50)
    {
        CheckInput(z.Value);
        int n = z.Rows, levels = Levels;
        var codes = new int[n * levels];
        var sum = new Tensor(n, Dim);
        var residual = z;
        Variable? loss = null;
        for (int l = 0; l < levels; l++)
        {
            // Its own array per level: the gather's backward pass reads it after the loop has moved on.
            var levelCodes = new int[n];
            float epsilon = l < skEpsilons.Length ? skEpsilons[l] : 0f;
            AssignLevel(residual.Value, l, epsilon, skIters, levelCodes);
            for (int i = 0; i < n; i++) codes[i * levels + l] = levelCodes[i];
            var q = Ops.GatherRows(_codebooks[l], levelCodes);
            var codebookLoss = Ops.Mse(q, Ops.Detach(residual));
            var commitment = Ops.Mse(Ops.Detach(q), residual);
            var levelLoss = Ops.Add(codebookLoss, Ops.Scale(commitment, Beta));
            loss = loss is null ? levelLoss : Ops.Add(loss, levelLoss);
            TensorPrimitives.Add(sum.Span, q.Value.Span, sum.Span);
            if (l + 1 < levels) residual = Ops.Sub(residual, Ops.Detach(q));
        }
        // Straight through: the value is Σq, the gradient reaches z unchanged.
        var offset = new Tensor(n, Dim);
        TensorPrimitives.Subtract(sum.Span, z.Value.Span, offset.Span);
        var quantized = Ops.Add(z, new Variable(offset));
        return new QuantizerOutput(quantized, Ops.Scale(loss!, 1f / levels), codes);
    }


    /// <summary>
    /// Codes [rows × levels] for the rows of <paramref name="z"/> without recording anything; levels whose
    /// <paramref name="skEpsilons"/> entry is positive are assigned by Sinkhorn-Knopp over these rows.
    /// <paramref name="quantized"/>, when given, receives Σq.
    /// </summary>
    public int[] Encode(Tensor z, ReadOnlySpan<float> skEpsilons = default, int skIters = 50, Tensor? quantized = null)
    {
        CheckInput(z);
        int n = z.Rows, levels = Levels;
        var codes = new int[n * levels];
        var residual = z.Clone();
        var levelCodes = new int[n];
        quantized?.Clear();
        for (int l = 0; l < levels; l++)
        {
            float epsilon = l < skEpsilons.Length ? skEpsilons[l] : 0f;
            AssignLevel(residual, l, epsilon, skIters, levelCodes);
            var book = _codebooks[l].Value;
            for (int i = 0; i < n; i++)
            {
                codes[i * levels + l] = levelCodes[i];
                TensorPrimitives.Subtract(residual.Row(i), book.Row(levelCodes[i]), residual.Row(i));
                if (quantized is not null) TensorPrimitives.Add(quantized.Row(i), book.Row(levelCodes[i]), quantized.Row(i));
            }
        }
        return codes;
    }

    /// <summary>
    /// Sets each level's codebook to the k-means centroids of that level's residuals of <paramref name="z"/>
    /// (level 0: z itself; level l: what levels 0 … l−1's centroids leave), then marks the quantiser initialised.
    /// </summary>
    public void InitializeByKMeans(Tensor z, int iterations, Rng rng, IProgress<int>? levelDone = null)
    {
        CheckInput(z);
        var residual = z.Clone();
        for (int l = 0; l < Levels; l++)
        {
            int k = CodebookSize(l);
            if (residual.Rows < k)
                throw new ArgumentException($"k-means initialisation of level {l} needs at least {k} vectors (its codebook size), got {residual.Rows}: use a smaller codebook or more data");
            var fit = KMeans.Fit(residual, k, iterations, rng);
            fit.Centroids.Span.CopyTo(_codebooks[l].Value.Span);
            for (int i = 0; i < residual.Rows; i++)
                TensorPrimitives.Subtract(residual.Row(i), fit.Centroids.Row(fit.Assignment[i]), residual.Row(i));
            levelDone?.Report(l + 1);
        }
        Initialized = true;
    }

    /// <summary>
    /// Re-seeds the codewords no item chose (<paramref name="used"/>[level][code] false) with residuals of
    /// random rows of <paramref name="z"/> on that level, so a code that lost all its items gets some back
    /// instead of staying dead; returns how many were re-seeded per level.
    /// </summary>
    public int[] ReseedDeadCodes(Tensor z, bool[][] used, Rng rng)
    {
        CheckInput(z);
        var reseeded = new int[Levels];
        var residual = z.Clone();
        var codes = new int[z.Rows];
        for (int l = 0; l < Levels; l++)
        {
            var book = _codebooks[l].Value;
            for (int c = 0; c < book.Rows; c++)
            {
                if (used[l][c]) continue;
                residual.Row(rng.NextInt(residual.Rows)).CopyTo(book.Row(c));
                reseeded[l]++;
            }
            AssignLevel(residual, l, 0f, 0, codes);
            for (int i = 0; i < residual.Rows; i++) TensorPrimitives.Subtract(residual.Row(i), book.Row(codes[i]), residual.Row(i));
        }
        return reseeded;
    }

    /// <summary>Squared distances [rows × codes] from each row of <paramref name="x"/> to each codeword of <paramref name="level"/>: ‖x‖² + ‖c‖² − 2x·c.</summary>
    public void Distances(Tensor x, int level, Span<float> distances)
    {
        var book = _codebooks[level].Value;
        PairwiseDistances.SquaredL2(x.Span, x.Rows, book.Span, book.Rows, Dim, distances);
    }

    private void AssignLevel(Tensor residual, int level, float epsilon, int skIters, Span<int> codes)
    {
        int n = residual.Rows, k = CodebookSize(level);
        var buffer = ArrayPool<float>.Shared.Rent(n * k);
        try
        {
            var distances = buffer.AsSpan(0, n * k);
            Distances(residual, level, distances);
            if (epsilon > 0)
            {
                SinkhornKnopp.Assign(distances, n, k, epsilon, skIters, codes);
                return;
            }
            for (int i = 0; i < n; i++) codes[i] = TensorPrimitives.IndexOfMin(distances.Slice(i * k, k));
        }
        finally { ArrayPool<float>.Shared.Return(buffer); }
    }

    private void CheckInput(Tensor z)
    {
        if (z.Rank != 2 || z.Cols != Dim) throw new ArgumentException($"the quantiser takes [rows × {Dim}], got {Tensor.ShapeString(z.Shape)}");
    }
}
