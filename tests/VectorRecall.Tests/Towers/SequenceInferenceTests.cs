using VectorRecall.Autograd;
using VectorRecall.Data;
using VectorRecall.Numerics;
using VectorRecall.Retrieval;
using VectorRecall.Towers;

namespace VectorRecall.Tests.Towers;

public class SequenceInferenceTests
{
    private static SequenceEncoder Encoder(bool preNorm, int heads, int blocks) =>
        new(new SequenceEncoderConfig { NumItems = 40, Dim = 16, MaxLength = 7, Blocks = blocks, Heads = heads, PreNorm = preNorm, Dropout = 0.3f }, new Rng(3));

    /// <summary>Histories of every length from 1 to past the window, with repeats.</summary>
    private static int[][] Histories()
    {
        var rng = new Rng(8);
        return [.. Enumerable.Range(1, 10).Select(n => Enumerable.Range(0, n).Select(_ => rng.NextInt(40)).ToArray())];
    }

    [Theory]
    [InlineData(true, 1, 2)]
    [InlineData(true, 2, 2)]
    [InlineData(false, 2, 2)]
    [InlineData(true, 4, 1)]
    [InlineData(true, 2, 0)]
    public void ForwardOnlyPathEqualsTheAutogradForward(bool preNorm, int heads, int blocks)
    {
        var encoder = Encoder(preNorm, heads, blocks);
        var histories = Histories();
        var user = new SequenceUserEncoder(encoder, UserItemLists.FromLists(histories));
        var served = user.Encode([.. histories.Select((h, u) => new UserQuery(u))]);
        var reference = Tape.NoGrad(() => SequenceTokens.Latest(encoder, [.. histories.Select(h => (ReadOnlyMemory<int>)h)]).Value);
        for (int r = 0; r < histories.Length; r++)
            for (int c = 0; c < encoder.Config.Dim; c++)
                Assert.True(MathF.Abs(served[r, c] - reference[r, c]) <= 1e-4f * (1 + MathF.Abs(reference[r, c])),
                    $"history of {histories[r].Length}, feature {c}: served {served[r, c]} against {reference[r, c]}");
    }

    [Fact]
    public void AWarmEncodeAllocatesNothing()
    {
        var encoder = Encoder(preNorm: true, heads: 2, blocks: 2);
        var user = new SequenceUserEncoder(encoder, UserItemLists.FromLists(Histories()));
        UserQuery[] queries = [new(3), new(0, History: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])];
        var destination = new float[queries.Length * encoder.Config.Dim];
        user.Encode(queries, destination);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++) user.Encode(queries, destination);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void ConcurrentEncodesAgreeWithASerialOne()
    {
        var encoder = Encoder(preNorm: true, heads: 2, blocks: 2);
        var histories = Histories();
        var user = new SequenceUserEncoder(encoder, UserItemLists.FromLists(histories));
        var queries = histories.Select((h, u) => new UserQuery(u)).ToArray();
        var serial = user.Encode(queries);
        Parallel.For(0, 64, i =>
        {
            var q = queries[i % queries.Length];
            var row = user.Encode([q]);
            for (int c = 0; c < encoder.Config.Dim; c++) Assert.Equal(serial[(int)q.UserId, c], row[0, c]);
        });
    }

    [Fact]
    public void ADestinationOfTheWrongSizeIsRefused()
    {
        var user = new SequenceUserEncoder(Encoder(true, 1, 1), UserItemLists.FromLists(Histories()));
        var error = Assert.Throws<ArgumentException>(() => user.Encode([new UserQuery(1)], new float[5]));
        Assert.Contains("destination", error.Message);
    }
}
