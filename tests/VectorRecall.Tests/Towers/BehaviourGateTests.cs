using VectorRecall.Autograd;
using VectorRecall.Numerics;
using VectorRecall.Towers;

namespace VectorRecall.Tests.Towers;

public class BehaviourGateTests
{
    [Fact]
    public void TheGateMixesTheIdAndTheBagElementwise()
    {
        var config = new TowerConfig { NumUsers = 3, NumItems = 5, IdDim = 4, BehaviourDim = 4, Hidden = [], EmbeddingDim = 4, Dropout = 0, GatedBehaviour = true };
        Assert.Equal(4, config.UserInputDim);
        var tower = new UserTower(config, new Rng(2));
        Assert.NotNull(tower.Gate);
        var batch = new UserBatch([1], new Tensor(1, 0), [0, 3], [0]);
        tower.Eval();
        var output = tower.Forward(batch).Value;

        // By hand: g = σ(W [id; bag] + b), mix = g ⊙ id + (1 − g) ⊙ bag, then the Linear head and L2 norm.
        var id = tower.Id.Weight.Value.Row(1).ToArray();
        var bag = new float[4];
        for (int c = 0; c < 4; c++) bag[c] = (tower.Behaviour.Weight.Value[0, c] + tower.Behaviour.Weight.Value[3, c]) / 2;
        var input = Tensor.FromArray([.. id, .. bag], 1, 8);
        var g = Ops.Sigmoid(Ops.Linear(input, tower.Gate!.Weight.Value, tower.Gate.Bias!.Value)).Value;
        var mix = new Tensor(1, 4);
        for (int c = 0; c < 4; c++) mix[0, c] = g[0, c] * id[c] + (1 - g[0, c]) * bag[c];
        var expected = Ops.L2NormalizeRows(tower.Mlp.Forward(mix)).Value;
        for (int c = 0; c < 4; c++) Assert.Equal(expected[0, c], output[0, c], 5);
    }

    [Fact]
    public void TheGateNeedsEqualWidths() =>
        Assert.Throws<ArgumentException>(() => new TowerConfig { NumUsers = 1, NumItems = 1, IdDim = 8, BehaviourDim = 4, GatedBehaviour = true }.Validate());
}
