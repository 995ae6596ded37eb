using VectorRecall.Indexing;
using VectorRecall.Numerics;

namespace VectorRecall.Tests.Indexing;

public class RaBitQStorageTests
{
    [Theory]
    [InlineData(2)]
    [InlineData(32)]
    [InlineData(34)]
    [InlineData(600)]   // past 256 pairs, where the 16-bit sums are flushed
    public unsafe void FastScanSumsTheTablesOfEveryCodeOnBothPaths(int groups)
    {
        var rng = new Rng((ulong)groups);
        int bytes = groups / 2;
        var codes = new byte[FastScan.BlockSize * bytes];
        for (int i = 0; i < codes.Length; i++) codes[i] = (byte)rng.NextInt(256);
        var block = new byte[FastScan.BlockBytes(groups)];
        var tables = new byte[16 * groups];
        for (int i = 0; i < tables.Length; i++) tables[i] = (byte)rng.NextInt(256);
        foreach (int count in new[] { FastScan.BlockSize, 17, 1 })
        {
            var scalar = new int[FastScan.BlockSize];
            var fast = new int[FastScan.BlockSize];
            block.AsSpan().Fill(0xAB);   // packing clears what it does not write
            fixed (byte* b = block) fixed (byte* t = tables) fixed (int* s = scalar) fixed (int* f = fast)
            {
                FastScan.Pack(codes.AsSpan(0, count * bytes), groups, b);
                FastScan.AccumulateScalar(b, t, groups, s);
                FastScan.Accumulate(b, t, groups, f);
            }
            for (int j = 0; j < FastScan.BlockSize; j++)
            {
                int expected = 0;
                for (int g = 0; g < groups; g++)
                    expected += tables[16 * g + (j < count ? (codes[j * bytes + g / 2] >> (4 * (g % 2))) & 0xF : 0)];
                Assert.Equal(expected, scalar[j]);
                Assert.Equal(expected, fast[j]);
            }
        }
        Assert.Throws<ArgumentException>(() => { fixed (byte* b = block) FastScan.Pack(new byte[33 * bytes], groups, b); });
    }

    [Theory]
    [InlineData(Metric.InnerProduct, 8)]
    [InlineData(Metric.InnerProduct, 30)]
    [InlineData(Metric.L2, 128)]
    [InlineData(Metric.Cosine, 64)]
    public void EstimatesAreUnbiasedAndWithinTheirErrorBound(Metric metric, int dim)
    {
        var data = VectorSets.Clustered(400, dim, 8, 3, normalise: metric == Metric.Cosine);
        var queries = VectorSets.Clustered(20, dim, 8, 4, normalise: metric == Metric.Cosine);
        int outside = 0, wide = 0, pairs = 0;
        double bias = 0, scale = 0;
        // Unbiased over the random rotation: the mean error is taken over several seeds (one rotation on clustered data
        // errs alike for a whole cluster).
        foreach (ulong seed in new ulong[] { 5, 6, 7, 8 })
        {
            var quantizer = RaBitQuantizer.Train(data, dim, seed, metric);
            Assert.Equal(dim <= 8 ? 8 : (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)dim), quantizer.Padded);
            var codes = new byte[400][];
            var factors = new RaBitQuantizer.CodeFactors[400];
            var rotated = new float[quantizer.Padded];
            for (int r = 0; r < 400; r++)
            {
                codes[r] = new byte[quantizer.CodeBytes];
                factors[r] = quantizer.Encode(data.AsSpan(r * dim, dim), codes[r], rotated);
            }
            var tables = new byte[16 * quantizer.Groups];
            for (int q = 0; q < 20; q++)
            {
                var query = queries.AsSpan(q * dim, dim);
                var prepared = quantizer.Prepare(query, tables, rotated);
                for (int r = 0; r < 400; r++)
                {
                    int sum = 0;
                    for (int g = 0; g < quantizer.Groups; g++) sum += tables[16 * g + ((codes[r][g / 2] >> (4 * (g % 2))) & 0xF)];
                    float estimate = RaBitQuantizer.Estimate(prepared, factors[r], sum);
                    var row = data.AsSpan(r * dim, dim);
                    float truth = metric == Metric.L2 ? Distances.SquaredL2Reference(query, row) : 1f - Distances.DotReference(query, row);
                    // The error factor is about one standard deviation of a normal error: 3.3 of them hold 99.9 % of the
                    // estimates, 1.9 of them 94 %; plus the tables' byte rounding (at most half a unit per position).
                    float sigma = prepared.ResidualNorm * factors[r].Error, rounding = MathF.Abs(factors[r].Scale) * prepared.Unit * quantizer.Groups / 2;
                    float error = MathF.Abs(estimate - truth);
                    if (error > 3.3f * sigma + rounding) outside++;
                    if (error > 1.9f * sigma + rounding) wide++;
                    bias += estimate - truth;
                    scale += MathF.Abs(truth);
                    pairs++;
                }
            }
        }
        Assert.True(outside <= pairs / 200, $"{outside} of {pairs} estimates beyond 3.3 error factors");
        Assert.True(wide <= pairs / 10, $"{wide} of {pairs} estimates beyond 1.9 error factors");
        Assert.True(Math.Abs(bias / pairs) < 0.05 * scale / pairs, $"mean error {bias / pairs} against mean distance {scale / pairs}");
    }

    [Fact]
    public void AWiderMarginFindsAtLeastAsMuchAndScoresAreExact()
    {
        const int n = 5000, dim = 32, k = 10;
        var data = VectorSets.Clustered(n, dim, 50, 21);
        var queries = VectorSets.Clustered(100, dim, 50, 22);
        var ids = VectorSets.Ids(n);
        using var index = Assert.IsType<HnswIndex>(IndexFactory.Create("HNSW16,RaBitQ,efc=100", dim, Metric.InnerProduct));
        Assert.Equal(VectorStorage.RaBitQ, index.Options.Storage);
        index.Add(ids, data);
        Assert.NotNull(index.BitQuantizer);
        var flat = new FlatIndex(dim, Metric.InnerProduct);
        flat.Add(ids, data);
        double Recall(float margin)
        {
            index.BitMargin = margin;
            int hits = 0;
            var a = new long[k]; var sa = new float[k]; var e = new long[k]; var se = new float[k];
            for (int q = 0; q < 100; q++)
            {
                var query = queries.AsSpan(q * dim, dim);
                int found = index.Search(query, k, a, sa, new SearchOptions { Ef = 20 });
                flat.Search(query, k, e, se);
                hits += a.Take(found).Intersect(e).Count();
                for (int i = 0; i < found; i++)
                {
                    int row = Array.IndexOf(ids, a[i]);
                    float exact = Distances.DotReference(query, data.AsSpan(row * dim, dim));
                    Assert.True(MathF.Abs(exact - sa[i]) <= 1e-4f, $"score {sa[i]}, exact {exact}");
                }
            }
            return hits / (100.0 * k);
        }
        double trusting = Recall(0), careful = Recall(2);
        Assert.True(careful >= trusting, $"margin 2: {careful}, margin 0: {trusting}");
        Assert.True(careful >= 0.9, $"recall@10 at ef 20 with margin 2: {careful}");
        Assert.Throws<ArgumentOutOfRangeException>(() => IndexFactory.Create("HNSW16,RaBitQ,refine=0", dim, Metric.InnerProduct));
    }

    [Fact]
    public async Task SearchesWhileItemsAreAddedReadOldBlocksButReturnExactScores()
    {
        const int dim = 16, batches = 8, batch = 500;
        var data = VectorSets.Clustered(batches * batch, dim, 40, 31);
        using var index = new HnswIndex(dim, Metric.L2, new HnswOptions { M = 8, EfConstruction = 60, Storage = VectorStorage.RaBitQ });
        index.Add(VectorSets.Ids(batch), data.AsSpan(0, batch * dim));
        using var stop = new CancellationTokenSource();
        var errors = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var searcher = Task.Run(() =>
        {
            var ids = new long[5]; var scores = new float[5];
            for (int q = 0; !stop.IsCancellationRequested; q = (q + 1) % batch)
            {
                var query = data.AsSpan(q * dim, dim);
                int found = index.Search(query, 5, ids, scores);
                for (int i = 0; i < found; i++)
                {
                    long row = (ids[i] - 1000) / 3;   // VectorSets.Ids: 1000 + 3·row
                    float exact = Distances.SquaredL2Reference(query, data.AsSpan((int)row * dim, dim));
                    if (MathF.Abs(exact - scores[i]) > 1e-3f * (1 + exact)) errors.Enqueue($"id {ids[i]}: score {scores[i]}, exact {exact}");
                }
            }
        });
        for (int b = 1; b < batches; b++)
        {
            var ids = Enumerable.Range(b * batch, batch).Select(i => 1000L + 3L * i).ToArray();
            index.Add(ids, data.AsSpan(b * batch * dim, batch * dim));
        }
        stop.Cancel();
        await searcher;
        Assert.Empty(errors);
        // After the adds, the blocks are current: every item finds itself.
        var self = new long[1]; var selfScore = new float[1];
        for (int r = 0; r < batches * batch; r += 97)
        {
            index.Search(data.AsSpan(r * dim, dim), 1, self, selfScore, new SearchOptions { Ef = 50 });
            Assert.Equal(0f, selfScore[0], 3);
        }
    }
}
