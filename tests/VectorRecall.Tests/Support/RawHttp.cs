using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using CsCheck;
using Microsoft.Extensions.Logging;

namespace VectorRecall.Tests;

/// <summary>Sends raw bytes as one HTTP request over a socket and reads the status line and body (for what HttpClient will not send).</summary>
internal static class RawHttp
{
    public static async Task<(int Status, string Body)> SendAsync(Uri server, byte[] request)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.Host, server.Port);
        var stream = tcp.GetStream();
        try { await stream.WriteAsync(request); }
        catch (IOException) { }  // the server may answer and close before reading it all
        using var reader = new StreamReader(stream, Encoding.UTF8);
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        string response = await reader.ReadToEndAsync(cancel.Token);
        int status = int.Parse(response.Split(' ', 3)[1], CultureInfo.InvariantCulture);
        return (status, response.Split("\r\n\r\n", 2).ElementAtOrDefault(1) ?? "");
    }
}
