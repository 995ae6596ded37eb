using VectorRecall.Autograd;
using VectorRecall.Data;
using VectorRecall.Numerics;
using VectorRecall.Retrieval;
using VectorRecall.Tdm;
using VectorRecall.Towers;

namespace VectorRecall.Tests.Tdm;

public class SequenceUserTests
{
    private const int Window = 7;

    private static SequenceUser User()
    {
        var encoder = new SequenceEncoder(new SequenceEncoderConfig { NumItems = 30, Dim = 8, MaxLength = Window, Blocks = 2, Heads = 2 }, new Rng(5));
        return SequenceUser.From(encoder, encoder.ItemVectors());
    }

    /// <summary>The training forward's outputs at every position of one window, right-aligned as training lays it out.</summary>
    private static Tensor Forward(SequenceEncoder encoder, int[] window)
    {
        encoder.Eval();
        return Tape.NoGrad(() => encoder.Forward([.. window.Select(i => i + 1)], SequenceShape.Packed([window.Length])).Value.Clone());
    }

    private static bool Close(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        for (int j = 0; j < a.Length; j++) if (MathF.Abs(a[j] - b[j]) > 1e-4f * (1 + MathF.Abs(b[j]))) return false;
        return true;
    }

    [Fact]
    public void EachExamplesVectorIsTheTrainingForwardsOutputJustBeforeIt()
    {
        var user = User();
        var rng = new Rng(2);
        int[][] histories = [[.. Enumerable.Range(0, 5).Select(_ => rng.NextInt(30))], [.. Enumerable.Range(0, 23).Select(_ => rng.NextInt(30))], [4]];
        var lists = UserItemLists.FromLists(histories);
        var examples = Enumerable.Range(0, histories.Length).SelectMany(u => Enumerable.Range(1, histories[u].Length - 1).Select(p => (User: u, Position: p))).ToArray();
        var vectors = user.BeforeEach(lists, [.. examples.Select(e => e.User)], [.. examples.Select(e => e.Position)]);
        int stride = Window / 2;
        for (int e = 0; e < examples.Length; e++)
        {
            var (u, p) = examples[e];
            int last = p - 1;
            // A short history is one window; a long one is read in windows half a window apart, and the output used
            // sees at least half a window of history before it.
            IEnumerable<int> starts = histories[u].Length <= Window ? [0] : Enumerable.Range(0, histories[u].Length).Where(s => s % stride == 0 && s <= last && last < s + Window && (last - s >= stride || s == 0));
            Assert.Contains(starts, s => Close(vectors.Row(e), Forward(user.Encoder, histories[u][s..Math.Min(s + Window, histories[u].Length)]).Row(last - s)));
        }
        Assert.Throws<ArgumentException>(() => user.BeforeEach(lists, [0], [0]));
        Assert.Throws<ArgumentException>(() => user.BeforeEach(lists, [2], [2]));
    }

    [Fact]
    public void LatestIsWhatTheServedEncoderGivesAndZeroWithoutHistory()
    {
        var user = User();
        var lists = UserItemLists.FromLists([[1, 2, 3], [], [.. Enumerable.Range(0, 12)]]);
        var latest = user.Latest(lists, [0, 1, 2]);
        var served = user.Users(lists).Encode([new UserQuery(0), new UserQuery(2)]);
        Assert.True(Close(latest.Row(0), served.Row(0)));
        Assert.True(Close(latest.Row(2), served.Row(1)));
        Assert.All(latest.Row(1).ToArray(), v => Assert.Equal(0f, v));
    }
}
