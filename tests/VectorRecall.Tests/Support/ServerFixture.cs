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
    internal async Task<TestServer> StartAsync(Func<ServerOptions, ServerOptions>? configure = null, ILoggerProvider? log = null, string? source = null, ServerHosting? hosting = null)
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
        }, hosting);
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
