using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace VectorRecall.Tests;

/// <summary>
/// A POST whose JSON body is sent in two halves over a raw socket, the second only after <c>release</c>
/// completes: a request that is still in flight. (HttpClient may replay a content object; a socket does exactly this.)
/// </summary>
internal static class SlowPost
{
    public static async Task<(int Status, JsonObject Body)> SendAsync(Uri server, string path, string json, Task release, TaskCompletionSource? firstHalfSent = null)
    {
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(server.Host, server.Port);
        var stream = tcp.GetStream();
        var body = Encoding.UTF8.GetBytes(json);
        int half = body.Length / 2;
        var head = Encoding.ASCII.GetBytes($"POST {path} HTTP/1.1\r\nHost: {server.Authority}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n");
        await stream.WriteAsync(head);
        await stream.WriteAsync(body.AsMemory(0, half));
        firstHalfSent?.TrySetResult();
        await release;
        try { await stream.WriteAsync(body.AsMemory(half)); }
        catch (IOException) { }  // the server may have answered (and closed) already, as with a timeout
        using var reader = new StreamReader(stream, Encoding.UTF8);
        string response = await reader.ReadToEndAsync();
        int status = int.Parse(response.Split(' ', 3)[1], CultureInfo.InvariantCulture);
        string[] parts = response.Split("\r\n\r\n", 2);
        string content = parts[0].Contains("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase) ? Unchunk(parts[1]) : parts[1];
        return (status, JsonNode.Parse(content)!.AsObject());
    }

    private static string Unchunk(string chunked)
    {
        var text = new StringBuilder();
        for (int at = 0; ;)
        {
            int eol = chunked.IndexOf("\r\n", at, StringComparison.Ordinal);
            int size = int.Parse(chunked.AsSpan(at, eol - at), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (size == 0) return text.ToString();
            text.Append(chunked, eol + 2, size);
            at = eol + 2 + size + 2;
        }
    }
}
