
namespace VectorRecall.Tests;

/// <summary>
/// Tests that run Orleans silos in this process run alone, after the parallel tests: their replicas answer within
/// deadlines, and a thread pool starved by the heavier tests beside them (two cores) once held a search past one.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ClusterCollection
{
    public const string Name = "cluster";
}
