using Microsoft.Extensions.DependencyInjection;

namespace VectorRecall.Cluster;

/// <summary>Where a silo's shard grains find the shard set (a folder every silo sees: a shared volume).</summary>
public sealed record ShardSetLocation(string Directory);

public static class ShardSiloBuilderExtensions
{
    /// <summary>
    /// Lets this silo host shard grains of the shard set in <paramref name="directory"/> (written by <c>vrecall shard</c>),
    /// their replicas placed on distinct silos (<see cref="ReplicaPlacement"/>).
    /// </summary>
    public static ISiloBuilder AddShardSet(this ISiloBuilder silo, string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        silo.Services.AddSingleton(new ShardSetLocation(Path.GetFullPath(directory)));
        silo.AddPlacementDirector<ReplicaPlacement, ReplicaPlacementDirector>();
        return silo;
    }
}
