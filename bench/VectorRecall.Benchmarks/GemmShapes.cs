namespace VectorRecall.Benchmarks;

/// <summary>
/// The GEMMs of one two-tower training step at the design note's sizes (batch 1024, 10 sampled
/// negatives per example → 11264 item rows; MLP 192→256→128): forward A·Wᵀ, input gradient
/// dY·W, weight gradient dYᵀ·X. C[m×n] = op(A)[m×k]·op(B)[k×n]. bench/anchors/gemm_torch.py
/// runs the same list through torch.mm.
/// </summary>
public sealed record GemmShape(string Name, int M, int N, int K, bool TransA, bool TransB)
{
    public static readonly GemmShape[] TwoTower =
    [
        new("fwd  [1024x192]x[192x256]", 1024, 256, 192, false, false),
        new("fwd  [11264x192]x[192x256]", 11264, 256, 192, false, false),
        new("fwd  [11264x256]x[256x128]", 11264, 128, 256, false, false),
        new("dX   [1024x256]x[192x256]^T", 1024, 192, 256, false, true),
        new("dX   [11264x256]x[192x256]^T", 11264, 192, 256, false, true),
        new("dX   [11264x128]x[256x128]^T", 11264, 256, 128, false, true),
        new("dW   [1024x192]^T x[1024x256]", 192, 256, 1024, true, false),
        new("dW   [11264x192]^T x[11264x256]", 192, 256, 11264, true, false),
        new("dW   [11264x256]^T x[11264x128]", 256, 128, 11264, true, false),
    ];

    /// <summary>The largest GEMMs of an RQ-VAE step (batch 1024, layers 2048 and 1024 wide): the Linear 2048↔1024 in both directions and 1024↔512.</summary>
    public static readonly GemmShape[] RqVae =
    [
        new("fwd  [1024x2048]x[1024x2048]^T", 1024, 1024, 2048, false, true),
        new("fwd  [1024x1024]x[2048x1024]^T", 1024, 2048, 1024, false, true),
        new("fwd  [1024x1024]x[512x1024]^T", 1024, 512, 1024, false, true),
        new("dX   [1024x1024]x[1024x2048]", 1024, 2048, 1024, false, false),
        new("dX   [1024x2048]x[2048x1024]", 1024, 1024, 2048, false, false),
        new("dW   [1024x1024]^T x[1024x2048]", 1024, 2048, 1024, true, false),
        new("dW   [1024x2048]^T x[1024x1024]", 2048, 1024, 1024, true, false),
    ];

    /// <summary>
    /// A sequence-encoder step's loss over every item (Amazon Beauty: 1,046 positions in a batch of 128 users, 12,101
    /// items, width 64): the logits H·Eᵀ, and their gradients into H (dL·E) and into the item table (dLᵀ·H).
    /// </summary>
    public static readonly GemmShape[] Sequence =
    [
        new("fwd  [1046x64]x[12101x64]^T", 1046, 12101, 64, false, true),
        new("dH   [1046x12101]x[12101x64]", 1046, 64, 12101, false, false),
        new("dE   [1046x12101]^T x[1046x64]", 12101, 64, 1046, true, false),
    ];

    /// <summary>The list a command line names: <c>--rqvae</c>, <c>--sequence</c>, or else the two-tower's.</summary>
    public static GemmShape[] Named(string[] args) =>
        args.Contains("--rqvae") ? RqVae : args.Contains("--sequence") ? Sequence : TwoTower;

    public double Flops => 2.0 * M * N * K;

    public override string ToString() => Name;
}
