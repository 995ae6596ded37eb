namespace VectorRecall.Tests;

/// <summary>The repository the tests were built from: the folder above the test binaries that holds <c>VectorRecall.sln</c>.</summary>
internal static class Repository
{
    /// <summary>The repository root, or null where the binaries run outside a checkout.</summary>
    public static string? Found { get; } = Find();

    /// <summary>The repository root, for tests that read its files.</summary>
    public static string Root => Found ?? throw new DirectoryNotFoundException("the repository root (VectorRecall.sln) is not above the test binaries");

    private static string? Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "VectorRecall.sln"))) return dir.FullName;
        return null;
    }
}
