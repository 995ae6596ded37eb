using Microsoft.Extensions.DependencyInjection;

namespace VectorRecall.Cluster;

/// <summary>
/// Where a silo's shard grains find the shard set (a folder every silo sees: a shared volume), and how many replicas of
/// each shard the cluster runs (the replicas a shard's writer passes changes to).
/// </summary>
public sealed record ShardSetLocation(string Directory, int Replicas = 1);

public static class ShardSiloBuilderExtensions
{
    /// <summary>
    /// Lets this silo host shard grains of the shard set in <paramref name="directory"/> (written by <c>vrecall shard</c>),
    /// their <paramref name="replicas"/> replicas placed on distinct silos (<see cref="ReplicaPlacement"/>).
    /// </summary>
    public static ISiloBuilder AddShardSet(this ISiloBuilder silo, string directory, int replicas = 1)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentOutOfRangeException.ThrowIfLessThan(replicas, 1);
        silo.Services.AddSingleton(new ShardSetLocation(Path.GetFullPath(directory), replicas));
        silo.AddPlacementDirector<ReplicaPlacement, ReplicaPlacementDirector>();
        return silo;
    }
}
