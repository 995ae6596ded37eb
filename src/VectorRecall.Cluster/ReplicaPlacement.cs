using Orleans.Placement;
using Orleans.Runtime;
using Orleans.Runtime.Placement;

namespace VectorRecall.Cluster;

/// <summary>
/// Places the replicas of a shard on distinct silos: replica r of shard s goes to silo (s + r) mod n of the n compatible
/// silos in address order, so the R replicas of a shard land on R different silos whenever there are at least R, and the
/// shards' first replicas spread round the cluster. An activation stays where it was placed; a replica whose silo failed
/// is placed again by the same rule over the silos then alive.
/// </summary>
[GenerateSerializer, Immutable, SuppressReferenceTracking]
public sealed class ReplicaPlacement : PlacementStrategy
{
    internal static readonly ReplicaPlacement Instance = new();
}

/// <summary>Marks a grain class keyed (shard, replica name) as placed by <see cref="ReplicaPlacement"/>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class ReplicaPlacementAttribute() : PlacementAttribute(ReplicaPlacement.Instance);

internal sealed class ReplicaPlacementDirector : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var silos = context.GetCompatibleSilos(target).Order().ToArray();
        if (silos.Length == 0) throw new OrleansException("no silo can host a shard replica");
        long shard = target.GrainIdentity.GetIntegerKey(out string? extension);
        long slot = (Math.Max(0, shard) + ShardedSearch.ReplicaOf(extension)) % silos.Length;
        return Task.FromResult(silos[slot]);
    }
}
