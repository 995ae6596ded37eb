using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;

namespace VectorRecall.Tests;

/// <summary>Runs the CLI in-process and captures what it writes to standard error or standard output.</summary>
internal static class CliRun
{
    public static (int Code, string Output) CaptureOutput(string[] args) => Run(args, Console.Out, Console.SetOut);

    public static (int Code, string Error) Capture(string[] args) => Run(args, Console.Error, Console.SetError);

    private static (int Code, string Text) Run(string[] args, TextWriter old, Action<TextWriter> redirect)
    {
        var captured = new StringWriter();
        redirect(captured);
        try { return (VectorRecall.Cli.Program.Main(args), captured.ToString()); }
        finally { redirect(old); }
    }
}
