using VectorRecall.Cli.Commands;

namespace VectorRecall.Tests.Cli;

/// <summary>A run that outgrows the machine's memory ends with one line and exit code 1, not a stack trace.</summary>
[Collection(ConsoleCollection.Name)]
public class OutOfMemoryTests
{
    [Fact]
    public async Task RunningOutOfMemoryIsOneLineNotAStackTrace()
    {
        var old = Console.Error;
        var captured = new StringWriter();
        Console.SetError(captured);
        int code;
        try { code = await CliErrors.Guard(() => throw new OutOfMemoryException()); }
        finally { Console.SetError(old); }

        Assert.Equal(1, code);
        var line = Assert.Single(captured.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.StartsWith("error: out of memory: this run needed more than the ", line);
        Assert.Equal("out of memory: this run needed more than the 6.4 GB this process may use", CliErrors.OutOfMemory(6_442_450_944).Split(';')[0]);
    }
}
