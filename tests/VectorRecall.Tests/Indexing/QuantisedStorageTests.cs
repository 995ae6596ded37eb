using VectorRecall.Indexing;
using VectorRecall.Numerics;

namespace VectorRecall.Tests.Indexing;

public unsafe class QuantisedStorageTests
{
    [Theory]
    [InlineData(8)]
    [InlineData(4)]
    public void CodesDecodeWithinHalfAStepAndClampOutsideTheTrainedRange(int bits)
    {
        foreach (int dim in new[] { 9, 64, 70 })
        {
            var data = VectorSets.Clustered(500, dim, 7, 3, normalise: false);
            var quantizer = ScalarQuantizer.Train(data, dim, bits);
            Assert.Equal(bits == 8 ? dim : (dim + 63) / 64 * 32, quantizer.CodeBytes);
            var code = new byte[quantizer.CodeBytes];
            var decoded = new float[dim];
            for (int r = 0; r < 500; r++)
            {
                var row = data.AsSpan(r * dim, dim);
                quantizer.Encode(row, code);
                quantizer.Decode(code, decoded);
                for (int j = 0; j < dim; j++)
                {
                    // Inside the fitted range, half a step; a tail value the range leaves out decodes to the range's end.
                    float lo = quantizer.Min[j], hi = lo + quantizer.Step[j] * ((1 << bits) - 1);
                    float expected = Math.Clamp(row[j], lo, hi);
                    Assert.True(MathF.Abs(decoded[j] - expected) <= quantizer.MaxError(j) * 1.001f + 1e-6f, $"row {r}, dimension {j}");
                }
            }
            var outside = Enumerable.Range(0, dim).Select(j => quantizer.Min[j] - 5f).ToArray();
            quantizer.Encode(outside, code);
            Assert.All(code, c => Assert.Equal(0, c));
            var above = Enumerable.Range(0, dim).Select(j => quantizer.Min[j] + quantizer.Step[j] * 1000f).ToArray();
            quantizer.Encode(above, code);
            quantizer.Decode(code, decoded);
            for (int j = 0; j < dim; j++) Assert.Equal(quantizer.Min[j] + quantizer.Step[j] * ((1 << bits) - 1), decoded[j], 1e-4f);
        }
        Assert.Throws<ArgumentException>(() => new ScalarQuantizer([0f], [-1f]));
        Assert.Throws<ArgumentException>(() => new ScalarQuantizer([0f], [1f], bits: 2));
        Assert.Throws<ArgumentException>(() => ScalarQuantizer.Train(new float[5], 2));
        Assert.Throws<ArgumentException>(() => ScalarQuantizer.Train(new float[4], 2, bits: 4).Encode(new float[2], new byte[2]));
    }

    [Theory]
    [InlineData(8)]
    [InlineData(4)]
    public void FittedRangesNeverQuantiseWorseThanMinMaxAndClampTailsWhereThatPays(int bits)
    {
        var rng = new Rng(11);
        const int rows = 20_000, dim = 4;
        float levels = (1 << bits) - 1;
        var normal = new float[rows * dim];
        for (int i = 0; i < normal.Length; i++) normal[i] = (float)rng.NextNormal();
        var outliers = (float[])normal.Clone();
        for (int i = 0; i < 8; i++) outliers[rng.NextInt(rows) * dim + i % dim] = i % 2 == 0 ? 40f : -40f;
        var uniform = Enumerable.Range(0, rows * dim).Select(_ => rng.NextFloat() * 2 - 1).ToArray();
        foreach (var data in new[] { normal, outliers, uniform })
        {
            // Fitted on every row (fewer than the sample's 65,536), [min, max] is one of the candidates: never better
            // (8-bit codes take [min, max] itself).
            var fitted = ScalarQuantizer.Train(data, dim, bits);
            var columns = Enumerable.Range(0, dim).Select(j => Column(data, dim, j)).ToArray();
            var minMax = new ScalarQuantizer(
                columns.Select(c => c.Min()).ToArray(), columns.Select(c => (c.Max() - c.Min()) / levels).ToArray(), bits);
            Assert.True(SquaredError(fitted, data, dim) <= SquaredError(minMax, data, dim) * 1.000001);
        }
        // 15 steps over normal values: Max's optimal uniform quantiser spans about ±2.7σ, where [min, max] of 20,000 draws
        // spans ±4σ; and ±40 outliers would take nearly all 15 steps.
        if (bits == 4)
        {
            var fitted = ScalarQuantizer.Train(normal, dim, bits);
            var clamped = ScalarQuantizer.Train(outliers, dim, bits);
            for (int j = 0; j < dim; j++)
            {
                Assert.InRange(fitted.Min[j], -3.5f, -2f);
                Assert.InRange(fitted.Min[j] + levels * fitted.Step[j], 2f, 3.5f);
                Assert.InRange(clamped.Min[j], -10f, -2f);
                Assert.InRange(clamped.Min[j] + levels * clamped.Step[j], 2f, 10f);
            }
        }
    }

    private static float[] Column(float[] data, int dim, int j) => Enumerable.Range(0, data.Length / dim).Select(r => data[r * dim + j]).ToArray();

    private static double SquaredError(ScalarQuantizer quantizer, float[] data, int dim)
    {
        var code = new byte[quantizer.CodeBytes];
        var decoded = new float[dim];
        double sum = 0;
        for (int r = 0; r < data.Length / dim; r++)
        {
            var row = data.AsSpan(r * dim, dim);
            quantizer.Encode(row, code);
            quantizer.Decode(code, decoded);
            for (int j = 0; j < dim; j++) sum += (decoded[j] - row[j]) * (double)(decoded[j] - row[j]);
        }
        return sum;
    }

    [Theory]
    [InlineData(8)]
    [InlineData(4)]
    public void AQueryAgainstACodeIsTheDotWithItsDecodedVectorWithinTheQuerysRounding(int bits)
    {
        var rng = new Rng(4);
        foreach (int dim in new[] { 1, 7, 32, 33, 64, 100, 128 })
        {
            var data = Enumerable.Range(0, 50 * dim).Select(_ => rng.NextFloat() * 4 - 2).ToArray();
            var quantizer = ScalarQuantizer.Train(data, dim, bits);
            var query = Enumerable.Range(0, dim).Select(_ => rng.NextFloat() - 0.5f).ToArray();
            var quantised = new sbyte[quantizer.QueryLength];
            quantised.AsSpan().Fill(99);   // the padding past the dimension must come back zero
            var (offset, scale) = quantizer.Prepare(query, quantised);
            Assert.All(quantised, v => Assert.InRange(v, -quantizer.QueryLimit, quantizer.QueryLimit));
            Assert.All(quantised[dim..], v => Assert.Equal(0, v));
            var code = new byte[quantizer.CodeBytes];
            var decoded = new float[dim];
            var levels = new float[dim];
            for (int r = 0; r < 50; r++)
            {
                quantizer.Encode(data.AsSpan(r * dim, dim), code);
                quantizer.Decode(code, decoded);
                for (int j = 0; j < dim; j++) levels[j] = quantizer.Step[j] > 0 ? MathF.Round((decoded[j] - quantizer.Min[j]) / quantizer.Step[j]) : 0;
                fixed (sbyte* q = quantised) fixed (byte* c = code)
                {
                    int fast = quantizer.Dot(c, q);
                    int scalar = bits == 8 ? Distances.DotBytesScalar(c, q, dim) : Distances.DotNibblesScalar(c, q, quantizer.QueryLength / 64);
                    Assert.Equal(scalar, fast);
                    // Each dimension's query value is off by at most half the scale, times its code.
                    float estimate = offset + scale * fast, reference = Distances.DotReference(query, decoded);
                    float bound = scale / 2 * levels.Sum() + 1e-4f * (1 + MathF.Abs(reference));
                    Assert.True(MathF.Abs(estimate - reference) <= bound, $"d={dim}: {estimate} against {reference} (bound {bound})");
                }
            }
        }
    }

    [Fact]
    public void TheLargestCodesAgainstTheLargestQueryValuesDoNotSaturateTheKernels()
    {
        var eight = new ScalarQuantizer(new float[64], Enumerable.Repeat(1f, 64).ToArray());
        var four = new ScalarQuantizer(new float[64], Enumerable.Repeat(1f, 64).ToArray(), bits: 4);
        var ones = Enumerable.Repeat((byte)255, 64).ToArray();
        foreach (var (quantizer, expected) in new[] { (eight, 64 * 255), (four, 64 * 15) })
            foreach (int sign in new[] { 1, -1 })
            {
                var top = Enumerable.Repeat((sbyte)(sign * quantizer.QueryLimit), 64).ToArray();
                fixed (byte* c = ones) fixed (sbyte* q = top)
                    Assert.Equal(sign * expected * quantizer.QueryLimit, quantizer.Dot(c, q));
            }
    }

    [Theory]
    [MemberData(nameof(StorageCases.ByMetric), new[] { Metric.InnerProduct, Metric.L2 }, false, MemberType = typeof(StorageCases))]
    public void AFilterNeverLetsARefusedIdThroughAndStillFillsK(Metric metric, VectorStorage storage)
    {
        const int n = 3000, dim = 16, k = 20;
        var data = VectorSets.Clustered(n, dim, 20, 9);
        var ids = VectorSets.Ids(n);
        using var index = new HnswIndex(dim, metric, new HnswOptions { M = 12, EfConstruction = 80, Storage = storage });
        index.Add(ids, data);
        var refused = new ExcludedIds();
        foreach (long id in ids.Where((_, i) => i % 3 != 0)) refused.Add(id);
        var found = new long[k];
        var scores = new float[k];
        for (int q = 0; q < 30; q++)
        {
            Assert.Equal(k, index.Search(data.AsSpan(q * dim, dim), k, found, scores, new SearchOptions { Filter = refused, Ef = 200 }));
            Assert.All(found, id => Assert.True(refused.Allows(id)));
        }
    }

    [Fact]
    public void TheFactoryBuildsQuantisedStorageAndTrainingHasItsOrder()
    {
        var index = Assert.IsType<HnswIndex>(IndexFactory.Create("HNSW16,SQ8,refine=3,efs=40", 8, Metric.InnerProduct));
        using (index)
        {
            Assert.Equal(VectorStorage.SQ8, index.Options.Storage);
            Assert.Equal(3, index.Options.Refine);
            Assert.Null(index.Quantizer);
            var data = VectorSets.Clustered(200, 8, 4, 2);
            // Trained on a sample first, the later vectors are coded in its ranges; after an add, no retraining.
            index.Train(data.AsSpan(0, 40 * 8));
            index.Add(VectorSets.Ids(200), data);
            Assert.NotNull(index.Quantizer);
            Assert.Throws<InvalidOperationException>(() => index.Train(data));
            Assert.True(index.BytesPerVector > 4 * 8);
        }
        using var plain = new HnswIndex(8, Metric.L2);
        Assert.Throws<InvalidOperationException>(() => plain.Train(new float[8]));
        using (var four = Assert.IsType<HnswIndex>(IndexFactory.Create("HNSW16,SQ4", 8, Metric.L2))) Assert.Equal(VectorStorage.SQ4, four.Options.Storage);
        Assert.Throws<ArgumentException>(() => IndexFactory.Create("HNSW16,SQ2", 8, Metric.L2));
        Assert.Throws<ArgumentException>(() => IndexFactory.Create("HNSW16,SQ8,refine=-1", 8, Metric.L2));
    }

    // Written by the SQ8 index before its inner-product codes dropped the squared norm (layout 0): 12 vectors of 64 dimensions, M 2.
    [Fact]
    public void AFileFromBeforeTheTwoLineCodeLayoutLoadsAndSearchesAsAFreshBuild()
    {
        string fixtures = Path.Combine(AppContext.BaseDirectory, "Indexing", "Fixtures");
        var vectors = VectorRecall.IO.Npy.ReadMatrix(Path.Combine(fixtures, "sq8_ip_layout0.npy"));
        int n = vectors.Shape[0], dim = vectors.Shape[1];
        using var old = HnswIndex.Load(Path.Combine(fixtures, "sq8_ip_layout0.vrix"));
        using var fresh = new HnswIndex(dim, Metric.InnerProduct, new HnswOptions { M = 2, Storage = VectorStorage.SQ8 });
        fresh.Add(Enumerable.Range(0, n).Select(i => (long)i).ToArray(), vectors.Span);
        Assert.Equal(n, old.Count);
        Assert.Equal(fresh.Quantizer!.Min, old.Quantizer!.Min);
        var (oldIds, oldScores, freshIds, freshScores) = (new long[n], new float[n], new long[n], new float[n]);
        for (int r = 0; r < n; r++)
        {
            var query = vectors.Span.Slice(r * dim, dim);
            var wide = new SearchOptions { Ef = 64 };
            Assert.Equal(n, old.Search(query, n, oldIds, oldScores, wide));
            Assert.Equal(n, fresh.Search(query, n, freshIds, freshScores, wide));
            Assert.Equal(freshIds, oldIds);
            Assert.Equal(freshScores, oldScores);
            Assert.Equal(r, oldIds[0]);
        }
        // Saved again it is a layout-1 file that loads the same.
        string path = Path.Combine(Path.GetTempPath(), $"vr-layout-{Guid.NewGuid():N}.vrix");
        try
        {
            old.Save(path);
            using var again = HnswIndex.Load(path);
            Assert.Equal(n, again.Search(vectors.Span[..dim], n, freshIds, freshScores, new SearchOptions { Ef = 64 }));
            Assert.Equal(0, freshIds[0]);
        }
        finally { File.Delete(path); }
    }
}
