using VectorRecall.Nn;
using VectorRecall.Numerics;
using VectorRecall.Towers;

namespace VectorRecall.TwoTower;

/// <summary>The two towers, whose outputs share one unit-norm space where the inner product scores a user–item pair.</summary>
public sealed class TwoTowerModel : Module
{
    public TwoTowerModel(TowerConfig config, Rng rng)
    {
        config.Validate();
        Config = config;
        User = RegisterModule("user", new UserTower(config, rng));
        Item = RegisterModule("item", new ItemTower(config, rng));
    }

    public TowerConfig Config { get; }
    public UserTower User { get; }
    public ItemTower Item { get; }
}
