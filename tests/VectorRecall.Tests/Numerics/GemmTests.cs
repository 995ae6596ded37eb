using VectorRecall.Numerics;

namespace VectorRecall.Tests.Numerics;

public class GemmTests
{
    public static IEnumerable<object[]> Kernels()
    {
        yield return [Gemm.KernelKind.Scalar];
        if (System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated && System.Runtime.Intrinsics.X86.Fma.IsSupported) yield return [Gemm.KernelKind.Avx2];
        if (System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated && System.Runtime.Intrinsics.X86.Avx512F.IsSupported) yield return [Gemm.KernelKind.Avx512];
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    internal void MatchesTheReferenceInAllFormsAndRaggedSizes(Gemm.KernelKind kernel)
    {
        var rng = new Rng(11);
        (int m, int n, int k)[] sizes = [(1, 1, 1), (1, 256, 192), (3, 70, 130), (4, 40, 300), (7, 5, 3), (37, 45, 19), (100, 70, 300), (9, 33, 257), (130, 1100, 20), (3100, 40, 9), (30, 50, 1500),
            (200, 64, 300), (50, 24, 600)];  // at most two column panels: a transposed A is read in place
        foreach (var (m, n, k) in sizes)
            foreach (bool ta in new[] { false, true })
                foreach (bool tb in new[] { false, true })
                    foreach (bool acc in new[] { false, true })
                        foreach (int threads in new[] { 1, 2 })
                        {
                            var a = Tensor.Randn(rng, 1f, ta ? k : m, ta ? m : k);
                            var b = Tensor.Randn(rng, 1f, tb ? n : k, tb ? k : n);
                            var c = Tensor.Randn(rng, 1f, m, n);
                            var expected = c.Clone();
                            Gemm.Multiply(a.Span, a.Cols, ta, b.Span, b.Cols, tb, c.Span, n, m, n, k, acc, threads, kernel);
                            Gemm.MultiplyReference(a.Span, a.Cols, ta, b.Span, b.Cols, tb, expected.Span, n, m, n, k, acc);
                            // The message is built only for a failure: formatting it per element cost most of this test's time.
                            for (int i = 0; i < c.Length; i++)
                                if (!(Math.Abs(c.Span[i] - expected.Span[i]) <= 1e-4f * (1 + Math.Sqrt(k))))
                                    Assert.Fail($"{kernel} m={m} n={n} k={k} ta={ta} tb={tb} acc={acc} threads={threads} at {i}: {c.Span[i]} vs {expected.Span[i]}");
                        }
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    internal void AddsTheBiasToEveryRowOnEveryPath(Gemm.KernelKind kernel)
    {
        var rng = new Rng(12);
        // Dot products (m ≤ 4 against a transposed B), ragged tiles, several KC steps, split k, and k = 0.
        (int m, int n, int k)[] sizes = [(3, 70, 130), (37, 45, 19), (9, 33, 600), (30, 50, 1500), (5, 7, 0)];
        foreach (var (m, n, k) in sizes)
            foreach (bool ta in new[] { false, true })
                foreach (bool tb in new[] { false, true })
                    foreach (bool acc in new[] { false, true })
                    {
                        var a = Tensor.Randn(rng, 1f, ta ? k : m, ta ? m : k);
                        var b = Tensor.Randn(rng, 1f, tb ? n : k, tb ? k : n);
                        var bias = Tensor.Randn(rng, 1f, n);
                        var c = Tensor.Randn(rng, 1f, m, n);
                        var expected = c.Clone();
                        Gemm.Multiply(a.Span, a.Cols, ta, b.Span, b.Cols, tb, c.Span, n, m, n, k, acc, 2, kernel, bias.Span);
                        Gemm.MultiplyReference(a.Span, a.Cols, ta, b.Span, b.Cols, tb, expected.Span, n, m, n, k, acc);
                        for (int i = 0; i < c.Length; i++)
                            if (!(Math.Abs(c.Span[i] - expected.Span[i] - bias.Span[i % n]) <= 1e-4f * (1 + Math.Sqrt(k))))
                                Assert.Fail($"{kernel} m={m} n={n} k={k} ta={ta} tb={tb} acc={acc} at {i}: {c.Span[i]} vs {expected.Span[i]} + {bias.Span[i % n]}");
                    }
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(Tensor.Zeros(2, 3), false, Tensor.Zeros(3, 4), false, Tensor.Zeros(2, 4), bias: Tensor.Zeros(3)));
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    internal void SumsTheRowsOfOpAIntoTheGivenVectorOnEveryPath(Gemm.KernelKind kernel)
    {
        var rng = new Rng(13);
        // Rows split (tall), columns split (wide: every part packs op(A), one sums it), several KC and NC steps, split k, k = 0.
        (int m, int n, int k)[] sizes = [(3, 70, 130), (37, 45, 19), (300, 40, 600), (20, 1500, 300), (256, 192, 3000), (9, 33, 600), (5, 7, 0)];
        foreach (var (m, n, k) in sizes)
            foreach (bool ta in new[] { false, true })
                foreach (int threads in new[] { 1, 2 })
                {
                    var a = Tensor.Randn(rng, 1f, ta ? k : m, ta ? m : k);
                    var b = Tensor.Randn(rng, 1f, k, n);
                    var c = new Tensor(m, n);
                    var sums = Tensor.Randn(rng, 1f, m);
                    var expected = sums.ToArray();
                    for (int i = 0; i < m; i++)
                        for (int p = 0; p < k; p++) expected[i] += ta ? a[p, i] : a[i, p];
                    Gemm.Multiply(a.Span, a.Cols, ta, b.Span, b.Cols, false, c.Span, n, m, n, k, false, threads, kernel, aRowSums: sums.Span);
                    for (int i = 0; i < m; i++)
                        if (!(Math.Abs(sums.Span[i] - expected[i]) <= 1e-4f * (1 + k)))
                            Assert.Fail($"{kernel} m={m} n={n} k={k} ta={ta} threads={threads} row {i}: {sums.Span[i]} vs {expected[i]}");
                    var product = new Tensor(m, n);
                    Gemm.MultiplyReference(a.Span, a.Cols, ta, b.Span, b.Cols, false, product.Span, n, m, n, k);
                    for (int i = 0; i < c.Length; i++)
                        if (!(Math.Abs(c.Span[i] - product.Span[i]) <= 1e-4f * (1 + Math.Sqrt(k))))
                            Assert.Fail($"{kernel} m={m} n={n} k={k} ta={ta} threads={threads}: the product changed at {i}");
                }
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(Tensor.Zeros(2, 3), false, Tensor.Zeros(3, 4), false, Tensor.Zeros(2, 4), aRowSums: Tensor.Zeros(3)));
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    internal void TakesTheColumnMomentsOfTheFinishedProductOnEveryPath(Gemm.KernelKind kernel)
    {
        var rng = new Rng(15);
        // Dot products (m ≤ 4 against a transposed B), ragged tiles, rows split, columns split, several KC and NC steps, split k, k = 0.
        (int m, int n, int k)[] sizes = [(3, 70, 130), (37, 45, 19), (300, 40, 600), (20, 1500, 300), (256, 192, 3000), (9, 33, 600), (5, 7, 0)];
        foreach (var (m, n, k) in sizes)
            foreach (bool tb in new[] { false, true })
                foreach (bool acc in new[] { false, true })
                    foreach (int threads in new[] { 1, 2 })
                    {
                        var a = Tensor.Randn(rng, 1f, m, k);
                        var b = Tensor.Randn(rng, 1f, tb ? n : k, tb ? k : n);
                        var bias = Tensor.Randn(rng, 1f, n);
                        var c = Tensor.Randn(rng, 1f, m, n);
                        var shift = Tensor.Randn(rng, 1f, n);
                        var moments = new float[2 * n];
                        Gemm.Multiply(a.Span, a.Cols, false, b.Span, b.Cols, tb, c.Span, n, m, n, k, acc, threads, kernel, bias.Span,
                            momentShift: shift.Span, columnMoments: moments);
                        for (int j = 0; j < n; j++)
                        {
                            double sum = 0, squares = 0;
                            for (int i = 0; i < m; i++) { double d = c[i, j] - shift[j]; sum += d; squares += d * d; }
                            if (!(Math.Abs(moments[j] - sum) <= 1e-4 * (1 + Math.Abs(sum) + m) && Math.Abs(moments[n + j] - squares) <= 1e-5 * (1 + squares)))
                                Assert.Fail($"{kernel} m={m} n={n} k={k} tb={tb} acc={acc} threads={threads} column {j}: {moments[j]}, {moments[n + j]} vs {sum}, {squares}");
                        }
                    }
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(Tensor.Zeros(2, 3).Span, 3, false, Tensor.Zeros(3, 4).Span, 4, false, Tensor.Zeros(2, 4).Span, 4, 2, 4, 3,
            momentShift: new float[4], columnMoments: new float[4]));
    }

    [Fact]
    public void RowSumsOfOpAAreTheSameOnOneAndTwoThreads()
    {
        var rng = new Rng(14);
        var a = Tensor.Randn(rng, 1f, 3000, 256); var b = Tensor.Randn(rng, 1f, 3000, 192);
        var s1 = new Tensor(256); var s2 = new Tensor(256);
        Gemm.Multiply(a, true, b, false, new Tensor(256, 192), threads: 1, aRowSums: s1);
        Gemm.Multiply(a, true, b, false, new Tensor(256, 192), threads: 2, aRowSums: s2);
        Assert.Equal(s1.ToArray(), s2.ToArray());
    }

    [Fact]
    public void RespectsLeadingDimensions()
    {
        // A 3×2 block inside a 3×5 buffer, B 2×2 inside 2×4, C 3×2 inside 3×3.
        float[] a = [1, 2, 9, 9, 9, 3, 4, 9, 9, 9, 5, 6, 9, 9, 9];
        float[] b = [1, 0, 7, 7, 0, 1, 7, 7];
        var c = new float[9];
        Array.Fill(c, -1f);
        Gemm.Multiply(a, 5, false, b, 4, false, c, 3, 3, 2, 2);
        Assert.Equal([1f, 2f, -1f, 3f, 4f, -1f, 5f, 6f, -1f], c);
    }

    [Theory]
    [InlineData(300, 150, 200, false, false)]
    [InlineData(3000, 100, 64, false, false)]
    [InlineData(64, 96, 3000, true, false)] // deep k: split in two
    [InlineData(1100, 1060, 300, false, true)] // rows split, the transposed op(B) packed once for both threads: two NC blocks, ragged panels and k
    [InlineData(1100, 1060, 300, true, false)]
    public void SameResultOnOneAndTwoThreads(int m, int n, int k, bool transA, bool transB)
    {
        var rng = new Rng(2);
        var a = Tensor.Randn(rng, 1f, transA ? k : m, transA ? m : k); var b = Tensor.Randn(rng, 1f, transB ? n : k, transB ? k : n);
        var c1 = new Tensor(m, n); var c2 = new Tensor(m, n);
        Gemm.Multiply(a, transA, b, transB, c1, threads: 1);
        Gemm.Multiply(a, transA, b, transB, c2, threads: 2);
        Assert.Equal(c1.ToArray(), c2.ToArray());
    }

    [Theory]
    [InlineData(200, 64, 300)]  // two column panels: the transposed A read in place
    [InlineData(37, 20, 19)]
    [InlineData(300, 150, 1500)] // packed, and k split in two
    public void ATransposedGivesTheSameBitsAsAStoredUntransposed(int m, int n, int k)
    {
        // Every path feeds the micro-kernel the same values in the same order, however A is stored or read.
        var rng = new Rng(3);
        var a = Tensor.Randn(rng, 1f, m, k); var b = Tensor.Randn(rng, 1f, k, n);
        var aT = new Tensor(k, m);
        for (int i = 0; i < m; i++) for (int p = 0; p < k; p++) aT[p, i] = a[i, p];
        foreach (int threads in new[] { 1, 2 })
        {
            var c = new Tensor(m, n); var cT = new Tensor(m, n);
            Gemm.Multiply(a, false, b, false, c, threads: threads);
            Gemm.Multiply(aT, true, b, false, cT, threads: threads);
            Assert.Equal(c.ToArray(), cT.ToArray());
        }
    }

    [Fact]
    public void RejectsBadShapes()
    {
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(Tensor.Zeros(2, 3), false, Tensor.Zeros(2, 3), false, Tensor.Zeros(2, 3)));
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(new float[5], 3, false, new float[9], 3, false, new float[6], 3, 2, 3, 3));
    }
}
