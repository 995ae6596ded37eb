using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;

namespace VectorRecall.Tests;

/// <summary>Runs the CLI in-process and captures what it writes to standard error or standard output.</summary>
internal static class CliRun
{
    public static (int Code, string Output) CaptureOutput(string[] args)
    {
        var output = new StringWriter();
        var old = Console.Out;
        Console.SetOut(output);
        try { return (VectorRecall.Cli.Program.Main(args), output.ToString()); }
        finally { Console.SetOut(old); }
    }

    public static (int Code, string Error) Capture(string[] args)
    {
        var error = new StringWriter();
        var old = Console.Error;
        Console.SetError(error);
        try { return (VectorRecall.Cli.Program.Main(args), error.ToString()); }
        finally { Console.SetError(old); }
    }
}
