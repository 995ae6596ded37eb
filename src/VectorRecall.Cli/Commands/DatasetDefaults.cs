using VectorRecall.TwoTower;
using VectorRecall.Training;

namespace VectorRecall.Cli.Commands;

/// <summary>
/// Where training starts for each kind of data; a flag given on the command line always wins.
/// Synthetic data has rich features and a deep tower pays; real interaction data here has ids (and
/// at most attribute bags), where a shallow tower with a higher learning rate learns faster and better.
/// </summary>
internal sealed record DatasetDefaults(int EmbeddingDim, int[] Hidden, float Dropout, int HistoryLength, int RecentLength, int Epochs, int BatchSize, double LearningRate, double WeightDecay, int NumNegatives, float Temperature, ModelSelection SelectBy, int Patience)
{
    /// <summary>The spectral model's rank (<see cref="PipelineOptions.SpectralRank"/>): 0 trains the towers.</summary>
    public int SpectralRank { get; init; }

    /// <summary>The design note's defaults (those of <see cref="PipelineOptions"/>), for the synthetic demo.</summary>
    public static readonly DatasetDefaults Synthetic = Of(new PipelineOptions());

    /// <summary>Id-only (or attribute-tagged) interaction data of any origin.</summary>
    public static readonly DatasetDefaults Interactions = new(64, [], 0f, 50, 2, 20, 1024, 1e-2, 0.01, 10, 0.1f, ModelSelection.Recall, 5);

    private static DatasetDefaults Of(PipelineOptions o) => new(o.EmbeddingDim, o.Hidden, o.Dropout, o.HistoryLength, o.RecentLength,
        o.Trainer.Epochs, o.Trainer.BatchSize, o.Trainer.LearningRate, o.Trainer.WeightDecay, o.Loss.NumNegatives, o.Loss.Temperature, o.Trainer.SelectBy, o.Trainer.Patience);

    /// <summary>
    /// The sequence encoder, on any data (SASRec's settings for sparse data: width 64, dropout 0.5, batches of
    /// 128 users at 1e-3 without weight decay, up to 200 epochs chosen by validation recall with patience 10),
    /// with a sampled softmax over 1,024 shared negatives. Dropout 0.2 trained faster but stopped lower on Beauty
    /// (Recall@10 0.0717 against 0.0868); 1,024 negatives beat 256 (0.0901 against 0.0873) at little cost, as a
    /// bigger sample is a closer estimate of the full softmax.
    /// </summary>
    public static readonly DatasetDefaults Sequence = new(64, [], 0.5f, 50, 0, 200, 128, 1e-3, 0, 1024, 1f, ModelSelection.Recall, 10);

    /// <summary>
    /// Up to this many items the sequence encoder trains with the full softmax (scoring every item at every position costs at
    /// most 16 times the sampled softmax's 1,024 negatives); beyond, with the sampled one. On Beauty (12,101 items) the full
    /// softmax gave Recall@10 0.0999 / NDCG@10 0.0595 against 0.0987 / 0.0570, and 0.0935 / 0.0565 against 0.0901 / 0.0534 without
    /// item attributes, in 1.5–2.5 times the training time.
    /// </summary>
    public const int FullSoftmaxItems = 16_384;

    /// <summary>
    /// Unordered interactions (LightGCN folders, CSV without timestamps): the spectral two-tower, GF-CF's low-pass filter
    /// in closed form, its rank, eigenvalue exponent, degree discount and graph normalisation picked by validation recall (on
    /// Gowalla Recall@20 0.1944 against 0.1378 for the trained towers and 0.1432 for the best trained variant). With
    /// <c>--spectral-rank 0</c> the towers train from the interaction defaults above. See docs/spectral.md for every variant measured.
    /// </summary>
    public static readonly DatasetDefaults Unordered = Interactions with { SpectralRank = PipelineOptions.AutoRank };

    /// <summary>
    /// The defaults for a data set and user encoder; once the data is loaded, <paramref name="items"/> picks the
    /// sequence encoder's softmax and <paramref name="chronological"/> false (unordered real data) the graph model.
    /// </summary>
    public static DatasetDefaults For(string dataset, string userEncoder = "bag", int? items = null, bool chronological = true) =>
        userEncoder.Equals("sequence", StringComparison.OrdinalIgnoreCase) ? (items <= FullSoftmaxItems ? Sequence with { NumNegatives = 0 } : Sequence)
        : dataset.Equals("synthetic", StringComparison.OrdinalIgnoreCase) ? Synthetic
        : chronological ? Interactions
        : Unordered;
}
