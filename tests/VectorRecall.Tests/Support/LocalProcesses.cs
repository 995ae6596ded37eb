using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace VectorRecall.Tests;

/// <summary>What tests of child processes and listening nodes need: a free port, and a signal sent to a process.</summary>
internal static class LocalProcesses
{
    /// <summary>A loopback port nothing listens on now.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Sends <paramref name="signal"/> (15: SIGTERM, 9: SIGKILL) to a process; 0 on success (Linux and macOS).</summary>
    public static int Signal(int pid, int signal) => kill(pid, signal);

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
}
