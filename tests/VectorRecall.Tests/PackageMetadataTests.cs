using System.Diagnostics;
using System.Text.Json.Nodes;

namespace VectorRecall.Tests;

/// <summary>Every package the repository packs says what it is, under which licence (MIT, as the design note declares), with the README.</summary>
public class PackageMetadataTests
{
    [Theory]
    [InlineData("src/VectorRecall/VectorRecall.csproj")]
    [InlineData("src/VectorRecall.Server/VectorRecall.Server.csproj")]
    [InlineData("src/VectorRecall.Cluster/VectorRecall.Cluster.csproj")]
    [InlineData("src/VectorRecall.Cli/VectorRecall.Cli.csproj")]
    public void APackageDeclaresItsLicenceAndReadme(string project)
    {
        var properties = Properties(project, "PackageLicenseExpression", "PackageReadmeFile", "Description", "IsPackable");
        Assert.Equal("true", properties["IsPackable"]);
        Assert.Equal("MIT", properties["PackageLicenseExpression"]);
        Assert.Equal("README.md", properties["PackageReadmeFile"]);
        Assert.False(string.IsNullOrWhiteSpace(properties["Description"]));
        Assert.StartsWith("MIT License", File.ReadAllText(Path.Combine(Repository.Root, "LICENSE")));
    }

    /// <summary>The project's evaluated MSBuild properties (no build).</summary>
    private static Dictionary<string, string> Properties(string project, params string[] names)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Repository.Root,
        };
        start.ArgumentList.Add("msbuild");
        start.ArgumentList.Add(Path.Combine(Repository.Root, project));
        foreach (var name in names) start.ArgumentList.Add($"-getProperty:{name}");
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        string error = process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(2)), "dotnet msbuild did not finish");
        Assert.True(process.ExitCode == 0, $"dotnet msbuild failed: {error}{output.Result}");
        var found = JsonNode.Parse(output.Result)!["Properties"]!.AsObject();
        return names.ToDictionary(n => n, n => (string?)found[n] ?? "");
    }
}
