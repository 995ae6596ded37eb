using VectorRecall.Numerics;

namespace VectorRecall.Tests.Numerics;

public class DistanceTests
{
    [Fact]
    public void KernelsMatchReferencesForEveryLength()
    {
        var rng = new Rng(8);
        for (int d = 0; d <= 150; d++)
        {
            var x = Tensor.Randn(rng, 1f, Math.Max(d, 1)).Span[..d];
            var y = Tensor.Randn(rng, 1f, Math.Max(d, 1)).Span[..d];
            Close(Distances.DotReference(x, y), Distances.Dot(x, y));
            Close(Distances.SquaredL2Reference(x, y), Distances.SquaredL2(x, y));
            Close(Distances.CosineReference(x, y), Distances.Cosine(x, y));
            // Each vector width the CPU runs, not only the one this machine picks.
            unsafe
            {
                fixed (float* px = x) fixed (float* py = y)
                {
                    if (System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated)
                    {
                        Close(Distances.DotReference(x, y), Distances.Dot256(px, py, d));
                        Close(Distances.SquaredL2Reference(x, y), Distances.SquaredL2_256(px, py, d));
                    }
                    if (System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated)
                    {
                        Close(Distances.DotReference(x, y), Distances.Dot512(px, py, d));
                        Close(Distances.SquaredL2Reference(x, y), Distances.SquaredL2_512(px, py, d));
                    }
                }
            }
        }
    }

    private static void Close(float expected, float actual) =>
        Assert.True(Math.Abs(expected - actual) <= 1e-5f * (1 + Math.Abs(expected)) + 1e-5f, $"expected {expected}, got {actual}");

    [Fact]
    public void ManyRowsAgreeWithOneAtATime()
    {
        var rng = new Rng(9);
        var q = Tensor.Randn(rng, 1f, 37);
        var rows = Tensor.Randn(rng, 1f, 50, 37);
        var dot = new float[50]; var l2 = new float[50]; var cos = new float[50];
        Distances.DotMany(q.Span, rows.Span, dot);
        Distances.SquaredL2Many(q.Span, rows.Span, l2);
        Distances.CosineMany(q.Span, rows.Span, cos);
        for (int r = 0; r < 50; r++)
        {
            Assert.Equal(Distances.DotReference(q.Span, rows.Row(r)), dot[r], 4);
            Assert.Equal(Distances.SquaredL2Reference(q.Span, rows.Row(r)), l2[r], 3);
            Assert.Equal(Distances.CosineReference(q.Span, rows.Row(r)), cos[r], 4);
        }
        Assert.Throws<ArgumentException>(() => Distances.DotMany(q.Span, rows.Span[..100], dot));
        Assert.Equal(0f, Distances.Cosine(new float[4], q.Span[..4]));
    }

    [Fact]
    public unsafe void HalvesRoundTripWithinHalfPrecisionAndTheKernelsMatchTheirScalarReference()
    {
        var rng = new Rng(21);
        foreach (int n in new[] { 1, 7, 8, 15, 16, 33, 128 })
        {
            var x = Enumerable.Range(0, n).Select(_ => (rng.NextFloat() - 0.5f) * 8).ToArray();
            var y = Enumerable.Range(0, n).Select(_ => (rng.NextFloat() - 0.5f) * 8).ToArray();
            var halves = new ushort[n];
            fixed (ushort* written = halves) Distances.ToHalves(y, written);
            for (int i = 0; i < n; i++) Assert.True(MathF.Abs((float)BitConverter.UInt16BitsToHalf(halves[i]) - y[i]) <= MathF.Abs(y[i]) / 2048 + 1e-7f);
            fixed (float* px = x) fixed (ushort* ph = halves)
            {
                Assert.Equal(Distances.DotHalvesScalar(px, ph, n), Distances.DotHalves(px, ph, n), 1e-4f * n);
                Assert.Equal(Distances.SquaredL2HalvesScalar(px, ph, n), Distances.SquaredL2Halves(px, ph, n), 1e-4f * n);
            }
        }
        // Zero, subnormals, the largest finite half and clamping beyond it all widen exactly.
        var special = new[] { 0f, -0f, 3e-6f, -6e-8f, 65504f, -65504f, 1e9f, -1e9f, 1f, -2.5f, 0.1f, 1000f, 0f, 0f, 0f, 0f };
        var bits = new ushort[special.Length];
        var ones = Enumerable.Repeat(0f, special.Length).ToArray();
        fixed (ushort* ph = bits) fixed (float* po = ones)
        {
            Distances.ToHalves(special, ph);
            for (int i = 0; i < special.Length; i++)
            {
                Array.Clear(ones);
                ones[i] = 1;
                float expected = (float)BitConverter.UInt16BitsToHalf(bits[i]);
                Assert.Equal(expected, Distances.DotHalves(po, ph, special.Length));
                Assert.Equal(Math.Clamp(special[i], -65504f, 65504f), expected, MathF.Abs(special[i]) / 2048 + 1e-7f);
            }
        }
    }
}
