namespace VectorRecall.Tests;

/// <summary>A fact that needs a folder of the shared data; skipped, saying so, where that folder is absent.</summary>
public sealed class SharedDataFactAttribute : FactAttribute
{
    public SharedDataFactAttribute(string folder)
    {
        if (!Directory.Exists(SharedData.Path(folder))) Skip = $"needs {SharedData.Path(folder)}, which is absent on this machine";
    }
}
