
namespace VectorRecall.Tests;

/// <summary>Tests that run the CLI share one console (Spectre allows one live display at a time), so they never run side by side.</summary>
[CollectionDefinition(Name)]
public sealed class ConsoleCollection
{
    public const string Name = "console";
}
