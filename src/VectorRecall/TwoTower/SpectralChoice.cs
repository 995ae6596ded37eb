namespace VectorRecall.TwoTower;

/// <summary>One configuration of the spectral model and its validation recall (NaN when none was measured).</summary>
/// <param name="Rank">Eigenvectors kept (the vectors' width).</param>
/// <param name="EigenvalueExponent">γ: each direction weighted by λ^γ.</param>
/// <param name="DegreeExponent">α: each history item's row divided by d_i^α.</param>
/// <param name="Taper">ρ: the weakest fraction of the directions faded linearly to zero (0: a sharp cutoff).</param>
/// <param name="Recall">Validation Recall@k of the model built on the training split.</param>
/// <param name="Normalization">ε: the graph normalised as D_u^(−ε) R D_i^(−ε) (GF-CF: ½).</param>
public sealed record SpectralChoice(int Rank, float EigenvalueExponent, float DegreeExponent, float Taper, double Recall, float Normalization = SpectralTwoTower.DefaultNormalization);
