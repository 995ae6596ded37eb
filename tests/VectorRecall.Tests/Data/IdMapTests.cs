using System.Text;
using System.Text.Json;
using VectorRecall.Data;

namespace VectorRecall.Tests.Data;

public class IdMapTests
{
    [Fact]
    public void IntegersAreNumbersAndEverythingElseStaysText()
    {
        var map = IdMap.FromKeys(["100846", "u17", "007", "-5", "9223372036854775808"]);
        Assert.False(map.AllNumeric);
        Assert.True(map.TryGetNumber(0, out long n) && n == 100846);
        Assert.False(map.TryGetNumber(2, out _));   // a leading zero: text, so that it comes back as it went in
        Assert.True(map.TryGetNumber(3, out long m) && m == -5);
        Assert.False(map.TryGetNumber(4, out _));   // beyond 64 bits
        Assert.True(map.TryGetRow(100846L, out int row) && row == 0);
        Assert.True(map.TryGetRow("u17", out row) && row == 1);
        Assert.False(map.TryGetRow("U17", out _));
        Assert.Throws<InvalidOperationException>(() => map.ToNumbers());

        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartArray();
            for (int i = 0; i < map.Count; i++) map.WriteValue(w, i);
            w.WriteEndArray();
        }
        Assert.Equal("""[100846,"u17","007",-5,"9223372036854775808"]""", Encoding.UTF8.GetString(buffer.ToArray()));
    }

    [Fact]
    public void NumbersRoundTripAndDuplicatesOrEmptyIdsAreRefused()
    {
        IdMap numbers = new long[] { 5, 3, 9 };
        Assert.True(numbers.AllNumeric);
        Assert.Equal([5L, 3, 9], numbers.ToNumbers());
        Assert.Equal([9L, 5], numbers.ToNumbers([2, 0]));
        Assert.Equal(["0", "1", "2"], Enumerable.Range(0, 3).Select(i => IdMap.Sequential(3)[i]));
        Assert.Contains("appears twice", Assert.Throws<ArgumentException>(() => IdMap.FromNumbers([1, 2, 1])).Message);
        Assert.Contains("empty", Assert.Throws<ArgumentException>(() => IdMap.FromKeys(["a", ""])).Message);
        var built = new IdMap();
        Assert.Equal(0, built.Intern("x"));
        Assert.Equal(1, built.Intern("y"));
        Assert.Equal(0, built.Intern("x"));
    }
}
