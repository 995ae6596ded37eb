using VectorRecall.Indexing;
using VectorRecall.Numerics;

namespace VectorRecall.Tests.Indexing;

public unsafe class QuantisedStorageTests
{
    [Fact]
    public void CodesDecodeWithinHalfAStepAndClampOutsideTheTrainedRange()
    {
        const int dim = 9;
        var data = VectorSets.Clustered(500, dim, 7, 3, normalise: false);
        var quantizer = ScalarQuantizer.Train(data, dim);
        var code = new byte[dim];
        var decoded = new float[dim];
        for (int r = 0; r < 500; r++)
        {
            var row = data.AsSpan(r * dim, dim);
            quantizer.Encode(row, code);
            quantizer.Decode(code, decoded);
            for (int j = 0; j < dim; j++) Assert.True(MathF.Abs(decoded[j] - row[j]) <= quantizer.MaxError(j) * 1.001f + 1e-6f, $"row {r}, dimension {j}");
        }
        var outside = Enumerable.Range(0, dim).Select(j => quantizer.Min[j] - 5f).ToArray();
        quantizer.Encode(outside, code);
        Assert.All(code, c => Assert.Equal(0, c));
        Assert.Throws<ArgumentException>(() => new ScalarQuantizer([0f], [-1f]));
        Assert.Throws<ArgumentException>(() => ScalarQuantizer.Train(new float[5], 2));
    }

    [Fact]
    public void AQueryAgainstACodeIsTheDotWithItsDecodedVectorWithinTheQuerysRounding()
    {
        var rng = new Rng(4);
        foreach (int dim in new[] { 1, 7, 32, 33, 64, 100, 128 })
        {
            var data = Enumerable.Range(0, 50 * dim).Select(_ => rng.NextFloat() * 4 - 2).ToArray();
            var quantizer = ScalarQuantizer.Train(data, dim);
            var query = Enumerable.Range(0, dim).Select(_ => rng.NextFloat() - 0.5f).ToArray();
            var quantised = new sbyte[dim];
            var (offset, scale) = quantizer.Prepare(query, quantised);
            Assert.All(quantised, v => Assert.InRange(v, -ScalarQuantizer.QueryLevels, ScalarQuantizer.QueryLevels));
            var code = new byte[dim];
            var decoded = new float[dim];
            for (int r = 0; r < 50; r++)
            {
                quantizer.Encode(data.AsSpan(r * dim, dim), code);
                quantizer.Decode(code, decoded);
                fixed (sbyte* q = quantised) fixed (byte* c = code)
                {
                    int fast = Distances.DotBytes(c, q, dim);
                    Assert.Equal(Distances.DotBytesScalar(c, q, dim), fast);
                    // Each dimension's query value is off by at most half the scale, times its code.
                    float estimate = offset + scale * fast, reference = Distances.DotReference(query, decoded);
                    float bound = scale / 2 * code.Sum(b => (float)b) + 1e-4f * (1 + MathF.Abs(reference));
                    Assert.True(MathF.Abs(estimate - reference) <= bound, $"d={dim}: {estimate} against {reference} (bound {bound})");
                }
            }
        }
        // The largest codes against the largest query values: no 16-bit saturation inside the kernel.
        var ones = Enumerable.Repeat((byte)255, 64).ToArray();
        var top = Enumerable.Repeat((sbyte)ScalarQuantizer.QueryLevels, 64).ToArray();
        fixed (byte* c = ones) fixed (sbyte* q = top) Assert.Equal(64 * 255 * ScalarQuantizer.QueryLevels, Distances.DotBytes(c, q, 64));
    }

    [Theory]
    [InlineData(Metric.InnerProduct)]
    [InlineData(Metric.L2)]
    public void AFilterNeverLetsARefusedIdThroughAndStillFillsK(Metric metric)
    {
        const int n = 3000, dim = 16, k = 20;
        var data = VectorSets.Clustered(n, dim, 20, 9);
        var ids = VectorSets.Ids(n);
        using var index = new HnswIndex(dim, metric, new HnswOptions { M = 12, EfConstruction = 80, Storage = VectorStorage.SQ8 });
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
        Assert.Throws<ArgumentException>(() => IndexFactory.Create("HNSW16,SQ4", 8, Metric.L2));
        Assert.Throws<ArgumentException>(() => IndexFactory.Create("HNSW16,SQ8,refine=0", 8, Metric.L2));
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
