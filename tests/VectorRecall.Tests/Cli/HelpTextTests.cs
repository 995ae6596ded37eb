using System.Text.Json.Nodes;

namespace VectorRecall.Tests.Cli;

/// <summary>Help says what a command does with the options it really uses, and states each default once.</summary>
[Collection(ConsoleCollection.Name)]
public class HelpTextTests
{
    [Fact]
    public void TrainHelpOffersNoBenchmarkAndMarksDataDependentDefaultsOnce()
    {
        var (code, train) = CliRun.CaptureOutput(["train", "--help"]);
        Assert.Equal(0, code);
        Assert.DoesNotContain("--skip-benchmark", train);
        Assert.DoesNotContain("Generate data", train);
        Assert.Contains("vrecall defaults", train);
        Assert.Contains("[default: 256 128]", train);
        Assert.DoesNotContain("256|128", train);
        Assert.DoesNotContain("see the README", train);
        Assert.Contains("--skip-benchmark", CliRun.CaptureOutput(["demo", "--help"]).Output);
    }

    [Fact]
    public void DefaultsListEveryKindOfDataAsJson()
    {
        var (code, text) = CliRun.CaptureOutput(["defaults", "--json"]);
        Assert.Equal(0, code);
        var kinds = JsonNode.Parse(text)!.AsObject();
        Assert.Equal(["synthetic", "time-ordered", "time-ordered, bag", "unordered"], kinds.Select(k => k.Key));
        Assert.Equal("auto", (string)kinds["unordered"]!["spectral-rank"]!);
        Assert.Equal("256 128", (string)kinds["synthetic"]!["hidden"]!);
        Assert.Equal("recall", (string)kinds["time-ordered"]!["select-by"]!);
    }
}
