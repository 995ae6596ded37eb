namespace VectorRecall.Tests;

/// <summary>Where the shared real data sets live: <c>../shared/data</c> beside the repository root (or <c>$VRECALL_DATA</c>).</summary>
internal static class SharedData
{
    public static string Root { get; } = Find();

    public static string Path(string relative) => System.IO.Path.Combine(Root, relative);

    private static string Find()
    {
        if (Environment.GetEnvironmentVariable("VRECALL_DATA") is { Length: > 0 } fromEnv) return fromEnv;
        if (Repository.Found is { } root) return System.IO.Path.GetFullPath(System.IO.Path.Combine(root, "..", "shared", "data"));
        return System.IO.Path.GetFullPath(System.IO.Path.Combine("..", "shared", "data"));
    }
}
