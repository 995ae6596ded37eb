using VectorRecall.Numerics;

namespace VectorRecall.Tests;

public class TensorTests
{
    [Fact]
    public void RowsAndViewsShareStorage()
    {
        var t = Tensor.FromArray([0, 1, 2, 3, 4, 5, 6, 7], 4, 2);
        Assert.Equal(4, t.Rows);
        Assert.Equal(2, t.Cols);
        Assert.Equal([4f, 5f], t.Row(2).ToArray());
        var view = t.RowRange(1, 2);
        Assert.Equal([2f, 3f, 4f, 5f], view.ToArray());
        view[1, 0] = 40;
        Assert.Equal(40f, t[2, 0]);
        Assert.Throws<ArgumentOutOfRangeException>(() => t.RowRange(3, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => t.Row(4));
    }

    [Fact]
    public void ReshapeChecksElementCount()
    {
        var t = Tensor.Zeros(2, 6);
        Assert.Equal(3, t.Reshape(3, 4).Rows);
        Assert.Throws<ArgumentException>(() => t.Reshape(5, 2));
        Assert.Throws<ArgumentException>(() => Tensor.FromArray(new float[5], 2, 3));
    }

    [Fact]
    public void ScalarsAndVectors()
    {
        var s = new Tensor();
        Assert.Equal(1, s.Length);
        var v = Tensor.Zeros(7);
        Assert.Equal(1, v.Rows);
        Assert.Equal(7, v.Cols);
    }

    [Fact]
    public void IndexTensorsHoldIntegers()
    {
        var ids = new IndexTensor<long>([1L, 2L, 3L, 4L, 5L, 6L], 2, 3);
        Assert.Equal(6L, ids[5]);
        Assert.Equal(2, ids.Shape[0]);
        Assert.Throws<ArgumentException>(() => new IndexTensor<int>(new int[5], 2, 3));
    }
}

public class RngTests
{
    [Fact]
    public void SameSeedSameStreamAndDifferentSeedsDiffer()
    {
        var a = new Rng(42); var b = new Rng(42); var c = new Rng(43);
        var xs = Enumerable.Range(0, 100).Select(_ => a.NextUInt64()).ToArray();
        Assert.Equal(xs, Enumerable.Range(0, 100).Select(_ => b.NextUInt64()));
        Assert.NotEqual(xs, Enumerable.Range(0, 100).Select(_ => c.NextUInt64()));
    }

    [Fact]
    public void DistributionsHaveTheRightMoments()
    {
        var rng = new Rng(5);
        var counts = new int[7];
        for (int i = 0; i < 70000; i++) counts[rng.NextInt(7)]++;
        Assert.All(counts, n => Assert.InRange(n, 9400, 10600));
        double sum = 0, sumSq = 0;
        const int n = 200000;
        for (int i = 0; i < n; i++) { double x = rng.NextNormal(); sum += x; sumSq += x * x; }
        Assert.InRange(sum / n, -0.01, 0.01);
        Assert.InRange(sumSq / n, 0.98, 1.02);
        for (int i = 0; i < 1000; i++) Assert.InRange(rng.NextFloat(), 0f, 0.99999995f);
    }

    [Fact]
    public void ShuffleIsAPermutation()
    {
        var values = Enumerable.Range(0, 100).ToArray();
        new Rng(3).Shuffle(values.AsSpan());
        Assert.NotEqual(Enumerable.Range(0, 100), values);
        Assert.Equal(Enumerable.Range(0, 100), values.Order());
    }
}

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
        (int m, int n, int k)[] sizes = [(1, 1, 1), (1, 256, 192), (3, 70, 130), (4, 40, 300), (7, 5, 3), (37, 45, 19), (100, 70, 300), (9, 33, 257), (130, 1100, 20), (3100, 40, 9), (30, 50, 1500)];
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
                            for (int i = 0; i < c.Length; i++)
                                Assert.True(Math.Abs(c.Span[i] - expected.Span[i]) <= 1e-4f * (1 + Math.Sqrt(k)),
                                    $"{kernel} m={m} n={n} k={k} ta={ta} tb={tb} acc={acc} threads={threads} at {i}: {c.Span[i]} vs {expected.Span[i]}");
                        }
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
    [InlineData(300, 150, 200, false)]
    [InlineData(3000, 100, 64, false)]
    [InlineData(64, 96, 3000, true)] // deep k: split in two
    public void SameResultOnOneAndTwoThreads(int m, int n, int k, bool transA)
    {
        var rng = new Rng(2);
        var a = Tensor.Randn(rng, 1f, transA ? k : m, transA ? m : k); var b = Tensor.Randn(rng, 1f, k, n);
        var c1 = new Tensor(m, n); var c2 = new Tensor(m, n);
        Gemm.Multiply(a, transA, b, false, c1, threads: 1);
        Gemm.Multiply(a, transA, b, false, c2, threads: 2);
        Assert.Equal(c1.ToArray(), c2.ToArray());
    }

    [Fact]
    public void RejectsBadShapes()
    {
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(Tensor.Zeros(2, 3), false, Tensor.Zeros(2, 3), false, Tensor.Zeros(2, 3)));
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(new float[5], 3, false, new float[9], 3, false, new float[6], 3, 2, 3, 3));
    }
}

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
}

public class TopKTests
{
    [Theory]
    [InlineData(1000, 1)]
    [InlineData(1000, 10)]
    [InlineData(5000, 1000)]
    [InlineData(50, 100)]
    [InlineData(10, 0)]
    public void MatchesAFullSortWithTiesBrokenByLowerId(int n, int k)
    {
        var rng = new Rng((ulong)(n + k));
        // Few distinct values, so there are many ties.
        var scores = Enumerable.Range(0, n).Select(_ => (float)rng.NextInt(20)).ToArray();
        var ids = new long[k]; var top = new float[k];
        int count = TopK.Select(scores, k, ids, top);
        var expected = TopK.SelectReference(scores, k);
        Assert.Equal(expected.Length, count);
        Assert.Equal(expected.Select(e => e.Id), ids.Take(count));
        Assert.Equal(expected.Select(e => e.Score), top.Take(count));
    }

    [Fact]
    public void OrderOfArrivalDoesNotMatter()
    {
        var ids = new long[3]; var scores = new float[3];
        var heap = new TopK(3, ids, scores);
        foreach (var (id, s) in new (long, float)[] { (9, 1f), (5, 2f), (7, 2f), (3, 1f), (1, 0.5f), (2, 2f) }) heap.Push(id, s);
        Assert.Equal(3, heap.SortBestFirst());
        Assert.Equal([2L, 5L, 7L], ids);
    }

    [Fact]
    public void NaNIsNeverSelected()
    {
        var ids = new long[2]; var top = new float[2];
        int count = TopK.Select([float.NaN, 1f, float.NaN, 0f], 2, ids, top);
        Assert.Equal(2, count);
        Assert.Equal([1L, 3L], ids);
    }
}
