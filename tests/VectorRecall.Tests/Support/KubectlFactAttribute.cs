namespace VectorRecall.Tests;

/// <summary>A fact that runs <c>kubectl</c> offline (no cluster: <c>kubectl kustomize</c>); skipped, saying so, where it is not installed.</summary>
public sealed class KubectlFactAttribute : FactAttribute
{
    public static readonly string? Path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(System.IO.Path.PathSeparator)
        .Select(dir => System.IO.Path.Combine(dir, "kubectl")).FirstOrDefault(File.Exists);

    public KubectlFactAttribute()
    {
        if (Path is null) Skip = "needs kubectl on the PATH (it renders the kustomizations offline), which is not installed";
    }
}
