using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using VectorRecall.Indexing;
using VectorRecall.Serving;
using VectorRecall.Server;

namespace VectorRecall.Tests;

/// <summary>The small trained model's bundle, and real servers over copies of it on free loopback ports.</summary>
public sealed class ServerFixture : IAsyncLifetime
{
    public const string Token = "test-admin-token";

    public TrainedSmallModel Model => TrainedSmallModel.Shared;
    internal TestServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await StartAsync(o => o with { MaxBodyBytes = 64 * 1024, MaxBatch = 8, MaxTopK = 500, AdminToken = null });

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
    }

    /// <summary>Starts a server on its own copy of the bundle (so reload tests can rewrite it).</summary>
    internal async Task<TestServer> StartAsync(Func<ServerOptions, ServerOptions>? configure = null, ILoggerProvider? log = null, string? source = null)
    {
        var dir = new TempDir();
        string bundle = dir.File("bundle");
        CopyBundle(source ?? Model.BundlePath, bundle);
        var options = new ServerOptions { BundlePath = bundle, Urls = "http://127.0.0.1:0", AdminToken = Token };
        options = configure?.Invoke(options) ?? options;
        var (app, server) = RecallServer.Build(options, logging =>
        {
            logging.ClearProviders();
            if (log is not null) logging.AddProvider(log);
        });
        await app.StartAsync();
        return new TestServer(app, server, dir, bundle, new Uri(RecallServer.Addresses(app)[0]));
    }

    public static void CopyBundle(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)), overwrite: true);
    }

    /// <summary>Publishes the same model again into <paramref name="bundle"/> the way training does (a new folder renamed into place), which gives a new version.</summary>
    public void Republish(string bundle)
    {
        using var index = IndexFactory.Load(Path.Combine(Model.BundlePath, "items.vrix"));
        ServingBundle.Save(bundle, Model.Model, index, Model.ItemVectors, Model.ItemIds, Model.Data.UserFeatures, Model.Known, Model.Known);
    }
}

internal sealed class TestServer(WebApplication app, RecallServer server, TempDir dir, string bundle, Uri address) : IAsyncDisposable
{
    public RecallServer Server => server;
    public string Bundle => bundle;
    public HttpClient Client { get; } = new() { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };

    public Task<HttpResponseMessage> PostJson(string path, string json, string? token = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return Client.SendAsync(request);
    }

    public async Task<(int Status, JsonObject Body)> Call(string path, string json, string? token = null)
    {
        using var response = await PostJson(path, json, token);
        return ((int)response.StatusCode, await JsonOf(response));
    }

    public async Task<JsonObject> Get(string path)
    {
        using var response = await Client.GetAsync(path);
        Assert.Equal(200, (int)response.StatusCode);
        return await JsonOf(response);
    }

    public static async Task<JsonObject> JsonOf(HttpResponseMessage response)
    {
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await app.StopAsync();
        await app.DisposeAsync();
        dir.Dispose();
    }
}

/// <summary>Keeps what the server logs (level, category, message and any exception) for a test to read.</summary>
internal sealed class RecordingLogger : ILoggerProvider
{
    public System.Collections.Concurrent.ConcurrentQueue<(LogLevel Level, string Category, string Message, Exception? Exception)> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Category(this, categoryName);

    public void Dispose() { }

    private sealed class Category(RecordingLogger root, string name) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            root.Entries.Enqueue((logLevel, name, formatter(state, exception), exception));
    }
}
