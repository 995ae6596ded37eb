using VectorRecall.Numerics;
using VectorRecall.TwoTower;

namespace VectorRecall.Tests.TwoTower;

public class NegativeSamplerTests
{
    [Fact]
    public void PopularitySamplerDrawsInProportionAndReportsItsProbabilities()
    {
        var sampler = new NegativeSampler(SamplerKind.Popularity, [0, 9, 29, 59]);  // weights 1, 10, 30, 60
        Assert.Equal(1.0, Enumerable.Range(0, 4).Sum(i => Math.Exp(sampler.LogProbability(i))), 5);
        var counts = new int[4];
        var rng = new Rng(1);
        for (int i = 0; i < 200_000; i++) counts[sampler.Next(rng)]++;
        double[] weight = [1, 10, 30, 60];
        for (int i = 0; i < 4; i++) Assert.InRange(counts[i] / 200_000.0, weight[i] / 101 - 0.005, weight[i] / 101 + 0.005);
        var uniform = new NegativeSampler(SamplerKind.Uniform, [0, 9, 29, 59]);
        Assert.Equal(Math.Log(0.25), uniform.LogProbability(3), 5);
    }
}
