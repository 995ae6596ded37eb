using System.Buffers;
using System.IO.Pipelines;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace VectorRecall.Server;

/// <summary>Reading JSON bodies within the size limit and writing JSON answers, straight to and from Kestrel's pipes.</summary>
internal static class HttpJson
{
    // Quotes and angle brackets in messages stay readable; the answer is served as application/json, never as HTML.
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>
    /// Reads the whole body, refusing one over <paramref name="limit"/> bytes or not declared as JSON.
    /// The caller parses <see cref="ReadResult.Buffer"/> and then calls <c>AdvanceTo(Buffer.End)</c>.
    /// </summary>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    public static async ValueTask<ReadResult> ReadBodyAsync(HttpContext ctx, long limit, CancellationToken token)
    {
        string? type = ctx.Request.ContentType;
        if (type is not null && !IsJson(type))
            throw new RequestError(415, "content-type", NotJson(type));
        if (ctx.Request.ContentLength > limit)
            throw new RequestError(413, "body", $"{ctx.Request.ContentLength} bytes is over the {limit}-byte limit");
        var reader = ctx.Request.BodyReader;
        while (true)
        {
            ReadResult result;
            try { result = await reader.ReadAsync(token); }
            catch (IOException e) when (e is not BadHttpRequestException && !ctx.RequestAborted.IsCancellationRequested)
            {
                // Kestrel reports some framing errors (a chunk size that overflows) as a plain I/O error around the
                // cause; its own refusals (a body over the size limit: 413) are BadHttpRequestExceptions and keep their status.
                throw new RequestError(400, "body", $"the body's framing is malformed: {e.Message.TrimEnd('.')}");
            }
            if (result.Buffer.Length > limit)
            {
                reader.AdvanceTo(result.Buffer.End);
                throw new RequestError(413, "body", $"the body is over the {limit}-byte limit");
            }
            if (result.IsCompleted) return result;
            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            token.ThrowIfCancellationRequested();
        }
    }

    /// <summary>Why a body of media type <paramref name="type"/> is refused (415), from the handler or from routing.</summary>
    public static string NotJson(string? type) => $"'{type}' is not JSON; send Content-Type: application/json";

    private static bool IsJson(string type)
    {
        var media = type.AsSpan();
        int semicolon = media.IndexOf(';');
        if (semicolon >= 0) media = media[..semicolon];
        media = media.Trim();
        return media.Equals("application/json", StringComparison.OrdinalIgnoreCase) || media.EndsWith("+json", StringComparison.OrdinalIgnoreCase);
    }

    // One writer per thread, pointed at each response in turn: it is used only before the first await, so no two
    // responses share it at once.
    [ThreadStatic] private static Utf8JsonWriter? t_writer;

    public static async Task WriteAsync<TState>(HttpContext ctx, int status, TState state, Action<Utf8JsonWriter, TState> write)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        var w = t_writer ??= new Utf8JsonWriter(ctx.Response.BodyWriter, WriterOptions);
        w.Reset(ctx.Response.BodyWriter);
        try
        {
            w.WriteStartObject();
            write(w, state);
            w.WriteEndObject();
            w.Flush();
        }
        finally { w.Reset(Stream.Null); }  // holds no response once done, nor a half-written one after a throw
        await ctx.Response.BodyWriter.FlushAsync(ctx.RequestAborted);
    }

    /// <summary>The error shape every refusal uses: <c>{"error": why, "field": what, "status": code}</c>.</summary>
    public static Task WriteErrorAsync(HttpContext ctx, int status, string field, string message) =>
        WriteAsync(ctx, status, (field, message, status), static (w, s) =>
        {
            w.WriteString("error", s.message);
            w.WriteString("field", s.field);
            w.WriteNumber("status", s.status);
        });
}
