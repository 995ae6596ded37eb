using System.Text.Json;
using VectorRecall.Numerics;

namespace VectorRecall.Tests.Numerics;

public class PercentileTests
{
    [Fact]
    public void NearestRankPercentilesOfSortedValues()
    {
        var values = Enumerable.Range(1, 100).Select(v => (double)v).ToArray();
        Assert.Equal(50, VectorRecall.Numerics.Percentiles.Of(values, 50));
        Assert.Equal(99, VectorRecall.Numerics.Percentiles.Of(values, 99));
        Assert.Equal(100, VectorRecall.Numerics.Percentiles.Of(values, 100));
        Assert.Equal(7, VectorRecall.Numerics.Percentiles.Of([7.0], 99));
        Assert.Throws<ArgumentException>(() => VectorRecall.Numerics.Percentiles.Of([], 50));
    }
}
