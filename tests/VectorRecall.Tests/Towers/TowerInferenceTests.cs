using VectorRecall.Data;
using VectorRecall.Numerics;
using VectorRecall.Retrieval;
using VectorRecall.Towers;

namespace VectorRecall.Tests.Towers;

public class TowerInferenceTests
{
    private const int Users = 6, Items = 30;

    public static TheoryData<string> Shapes() => ["plain", "features", "gated", "recent", "raw"];

    private static (TowerUserEncoder Encoder, TowerConfig Config) Build(string shape)
    {
        var config = new TowerConfig
        {
            NumUsers = Users, NumItems = Items, IdDim = 8, FeatureDim = 6, BehaviourDim = 8, Hidden = [12, 10], EmbeddingDim = 5,
            HistoryLength = 4, Dropout = 0.3f,
            UserFeatures = shape is "features" or "gated" ? 3 : 0,
            GatedBehaviour = shape == "gated",
            RecentLength = shape == "recent" ? 2 : 0,
            NormalizeOutput = shape != "raw",
            OutputBias = shape != "raw",
        };
        var rng = new Rng(17);
        var tower = new UserTower(config, rng);
        // Running statistics away from (0, 1), so that evaluation-mode batch norm is really exercised.
        foreach (var norm in tower.Mlp.Layers.OfType<VectorRecall.Nn.BatchNorm1d>())
            for (int j = 0; j < norm.RunningMean.Length; j++)
            {
                norm.RunningMean.Span[j] = rng.NextFloat() - 0.5f;
                norm.RunningVar.Span[j] = 0.2f + rng.NextFloat();
                norm.Weight.Value.Span[j] = 0.5f + rng.NextFloat();
            }
        var features = Tensor.Uniform(rng, -1, 1, Users, config.UserFeatures);
        int[][] histories = [[1, 2, 3], [4], [], [5, 6, 7, 8, 9, 10], [11, 11, 12], [0, 29]];
        return (new TowerUserEncoder(tower, config, features, UserItemLists.FromLists(histories)), config);
    }

    private static UserQuery[] Queries(TowerConfig c)
    {
        float[] Features(float v) => [.. Enumerable.Range(0, c.UserFeatures).Select(i => v + 0.1f * i)];
        // Stored users (one with an empty history), a stored user with its own features and history, an unknown user from
        // features and history alone (or history alone when the model takes no features).
        return [.. Enumerable.Range(0, Users).Select(u => new UserQuery(u)),
            new UserQuery(1, Features(0.3f), [7, 8, 9, 10, 11]),
            new UserQuery(1000, Features(-0.4f), [2, 3])];
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ForwardOnlyPathEqualsTheAutogradForward(string shape)
    {
        var (encoder, config) = Build(shape);
        var queries = Queries(config);
        var reference = encoder.Encode(queries);
        var served = new float[queries.Length * config.EmbeddingDim];
        encoder.Encode(queries, served);
        for (int r = 0; r < queries.Length; r++)
            for (int c = 0; c < config.EmbeddingDim; c++)
            {
                float expected = reference[r, c], got = served[r * config.EmbeddingDim + c];
                Assert.True(MathF.Abs(got - expected) <= 1e-5f * (1 + MathF.Abs(expected)), $"{shape}, query {r}, output {c}: served {got} against {expected}");
            }
    }

    [Fact]
    public void AWarmEncodeAllocatesNothing()
    {
        var (encoder, config) = Build("gated");
        var queries = Queries(config);
        var destination = new float[queries.Length * config.EmbeddingDim];
        encoder.Encode(queries, destination);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++) encoder.Encode(queries, destination);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void ABadQueryIsRefusedAsByTheBatchPath()
    {
        var (encoder, config) = Build("features");
        var destination = new float[config.EmbeddingDim];
        Assert.Contains("2 features given", Assert.Throws<ArgumentException>(() => encoder.Encode([new UserQuery(0, new float[] { 1, 2 })], destination)).Message);
        Assert.Contains("history item 30", Assert.Throws<ArgumentException>(() => encoder.Encode([new UserQuery(0, History: [30])], destination)).Message);
        Assert.Contains("is not in the bundle", Assert.Throws<ArgumentException>(() => encoder.Encode([new UserQuery(99)], destination)).Message);
    }
}
