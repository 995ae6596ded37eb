using System.Buffers;
using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using VectorRecall.Data;
using VectorRecall.IO;
using VectorRecall.Indexing;
using VectorRecall.Retrieval;
using VectorRecall.Serving;
using VectorRecall.Towers;

namespace VectorRecall.Server;

/// <summary>
/// <c>vrecall serve</c>: a minimal API on Kestrel over <see cref="RecallService"/>.
/// Routes: <c>POST /v1/recall</c>, <c>POST /v1/recall/batch</c>, <c>GET /healthz</c>, <c>GET /readyz</c>,
/// <c>GET /metrics</c>, <c>GET /openapi.json</c>, <c>POST /v1/admin/reload</c>. Every refusal is a 4xx
/// JSON error naming the field; SIGTERM stops accepting, drains the requests in flight and exits.
/// </summary>
public sealed class RecallServer
{
    private readonly ServerOptions _options;
    private readonly BundleHost _host;
    private readonly ServerMetrics _metrics = new();
    private readonly IHostApplicationLifetime _lifetime;
    private readonly ILogger _log;
    private readonly byte[]? _adminToken;

    private RecallServer(ServerOptions options, BundleHost host, IHostApplicationLifetime lifetime, ILogger log)
    {
        _options = options;
        _host = host;
        _lifetime = lifetime;
        _log = log;
        _adminToken = string.IsNullOrEmpty(options.AdminToken) ? null : Encoding.UTF8.GetBytes(options.AdminToken);
    }

    public BundleHost Host => _host;

    /// <summary>
    /// Builds the web application and loads the bundle (throwing with the file and reason if it cannot);
    /// start it with <c>RunAsync</c> or <c>StartAsync</c>.
    /// </summary>
    public static (WebApplication App, RecallServer Server) Build(ServerOptions options, Action<ILoggingBuilder>? logging = null) => Build(options, logging, null);

    /// <summary>
    /// As <see cref="Build(ServerOptions, Action{ILoggingBuilder}?)"/>, for a front end of a larger host: <paramref name="hosting"/>
    /// adds to the web host before it is built (an Orleans silo) and may give the retriever that searches for the bundle's users.
    /// </summary>
    public static (WebApplication App, RecallServer Server) Build(ServerOptions options, Action<ILoggingBuilder>? logging, ServerHosting? hosting)
    {
        options.Validate();
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
        // Per-request framework logs would cost more than a recall; keep start, stop and warnings.
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Information);
        // While this logger is on at any level, hosting starts an Activity and a log scope for every request: their ids, strings
        // and async-local maps were about 2 KiB of a recall's allocations. Failures are logged by GuardAsync instead.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
        // A host that fails to start (address in use) is reported once, as one line, by the caller.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None);
        logging?.Invoke(builder.Logging);
        builder.WebHost.UseUrls(options.Urls);
        var closer = new IdleConnectionCloser();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.ConfigureEndpointDefaults(listen => listen.Use(closer.Track));
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = options.MaxBodyBytes;
            // Headers that never finish hold a connection (and the drain) as long as a body that never does.
            k.Limits.RequestHeadersTimeout = options.RequestTimeout;
        });
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = options.ShutdownTimeout);
        hosting?.ConfigureHost?.Invoke(builder);
        // Watching, a server may start before any bundle is published (a Kubernetes pod beside the training job): it waits, not ready.
        builder.Services.AddSingleton(sp => new BundleHost(options.BundlePath, sp.GetRequiredService<ILogger<BundleHost>>(),
            hosting?.SearchWith is { } searchWith ? () => searchWith(sp) : null, waitForBundle: options.Watch));
        builder.Services.AddRecallOpenApi();
        if (options.Watch)
            builder.Services.AddHostedService(sp => new BundleWatcher(sp.GetRequiredService<BundleHost>(), options.WatchInterval, sp.GetRequiredService<ILogger<BundleWatcher>>()));

        var app = builder.Build();
        var server = new RecallServer(options, app.Services.GetRequiredService<BundleHost>(), app.Lifetime, app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("VectorRecall.Server"));
        closer.CloseIdleOnShutdown(app.Lifetime.ApplicationStopping, app.Lifetime.ApplicationStopped);
        app.Use(server.GuardAsync);
        server.MapRoutes(app, hosting);
        return (app, server);
    }

    /// <summary>
    /// Every route with what it takes and answers, the OpenAPI document's source (<see cref="OpenApiSetup"/>). Handlers are
    /// mapped as delegates, not <see cref="RequestDelegate"/>s, so the API explorer sees them.
    /// </summary>
    private void MapRoutes(WebApplication app, ServerHosting? hosting)
    {
        const string Overrun = "The request ran past --request-timeout-ms, or a shard has no live replica (Retry-After)";
        app.MapOpenApi(OpenApiSetup.Path);
        app.MapPost("/v1/recall", (Func<HttpContext, Task>)RecallAsync).WithName("recall").WithTags("Recall").WithSummary("Top-K items for one user")
            .Reads<HttpSchema.RecallRequest>().Answers<HttpSchema.RecallResponse>(200, "Items best first").Refuses(503, Overrun);
        app.MapPost("/v1/recall/batch", (Func<HttpContext, Task>)BatchAsync).WithName("recallBatch").WithTags("Recall")
            .WithSummary("Top-K items for many users, in one tower pass and one batch search")
            .Reads<HttpSchema.BatchRecallRequest>().Answers<HttpSchema.BatchRecallResponse>(200, "One result per user, in request order").Refuses(503, Overrun);
        app.MapGet("/healthz", (Func<HttpContext, Task>)HealthAsync).WithName("healthz").WithTags("Operations").WithSummary("Liveness: the process is up")
            .Answers<HttpSchema.Health>(200, "Up");
        app.MapGet("/readyz", (Func<HttpContext, Task>)ReadyAsync).WithName("readyz").WithTags("Operations")
            .WithSummary("Readiness: a bundle is loaded and the server is not shutting down")
            .Answers<HttpSchema.Ready>(200, "Ready").Answers<HttpSchema.Ready>(503, "Shutting down, or waiting for a bundle");
        app.MapGet("/metrics", (Func<HttpContext, Task>)MetricsAsync).WithName("metrics").WithTags("Operations")
            .WithSummary("Prometheus metrics: requests by route and status, latency histograms, bundle version and size, reloads, memory")
            .Produces<string>(200, "text/plain");
        app.MapPost("/v1/admin/reload", (Func<HttpContext, Task>)ReloadAsync).WithName("reload").WithTags("Admin")
            .WithSummary("Load the bundle folder again and swap it in atomically; a bundle that fails to load leaves the old one serving")
            .Answers<HttpSchema.ReloadResponse>(200, "Swapped").Answers<HttpSchema.ReloadResponse>(422, "The bundle on disk failed to load; the old one keeps serving")
            .AdminOnly();
        if (hosting?.WriteItemsWith is not { } writeItemsWith) return;
        // Made at the first change, once a bundle is loaded: a watching node may start before its shard set exists.
        var writer = new Lazy<IItemWriter>(() => writeItemsWith(app.Services));
        app.MapPut("/v1/items", (Func<HttpContext, Task>)(ctx => PutItemsAsync(ctx, writer))).WithName("putItems").WithTags("Items")
            .WithSummary("Add or replace items by id, each sent to the shard that owns it; answers once every change is on disk and applied by the shard's replicas")
            .Reads<HttpSchema.ItemsRequest>().Answers<HttpSchema.ItemsResponse>(200, "Every change is durable and searchable")
            .Refuses(503, "A shard's writer could not be reached (its node died and the cluster has not yet moved it); writing again is safe").AdminOnly();
        app.MapDelete("/v1/items/{id}", (Func<HttpContext, Task>)(ctx => DeleteItemAsync(ctx, writer))).WithName("deleteItem").WithTags("Items")
            .WithSummary("Remove an item by id (1 to 256 characters); it is never recalled again")
            .Answers<HttpSchema.DeleteItemResponse>(200, "Removed").Refuses(400, "The id is empty or too long").Refuses(404, "The cluster does not hold this item")
            .Refuses(503, "The shard's writer could not be reached; deleting again is safe").AdminOnly();
        app.MapPost("/v1/admin/compact", (Func<HttpContext, Task>)(ctx => CompactAsync(ctx, writer))).WithName("compact").WithTags("Admin")
            .WithSummary("Fold the shards' logs of live changes into the next generation of the shard set, in place, while serving. Writes wait meanwhile (503 with Retry-After); searches go on. ?resume=true finishes a compaction that stopped and left the set sealed")
            .Answers<HttpSchema.CompactResponse>(200, "Published; the replicas named in replicas_reloaded serve it already, the others within a second")
            .Refuses(400, "resume is not true or false").Refuses(409, "Another compaction holds the writers (or one stopped: finish it with ?resume=true)")
            .Refuses(503, "A shard writer did not answer or the compaction failed; writes go on into the set as it was").AdminOnly();
    }

    /// <summary>The addresses the started server listens on (with the real port when port 0 was asked for).</summary>
    public static IReadOnlyList<string> Addresses(WebApplication app) =>
        [.. app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? []];

    /// <summary>Counts and times every request, and turns every refusal or failure into the JSON error shape.</summary>
    private async Task GuardAsync(HttpContext ctx, RequestDelegate next)
    {
        long start = Stopwatch.GetTimestamp();
        int route = ServerMetrics.RouteOf(ctx.Request.Path.Value);
        _metrics.Started();
        var connectionRequests = IdleConnectionCloser.RequestsOf(ctx);
        if (connectionRequests is not null)
        {
            Interlocked.Increment(ref connectionRequests.Value);
            // Counted until the answer has left, not when the handler returns: a drain must not cut a response still being sent.
            ctx.Response.OnCompleted(static box =>
            {
                Interlocked.Decrement(ref ((System.Runtime.CompilerServices.StrongBox<int>)box).Value);
                return Task.CompletedTask;
            }, connectionRequests);
        }
        try
        {
            await next(ctx);
            if (!ctx.Response.HasStarted && ctx.Response.StatusCode == 404)
                await HttpJson.WriteErrorAsync(ctx, 404, "path", $"no route {ctx.Request.Method} {ctx.Request.Path}; see /openapi.json");
            else if (!ctx.Response.HasStarted && ctx.Response.StatusCode == 415)
                // Routing matches a body's media type against the JSON its route accepts (the OpenAPI metadata) and answers bare.
                await HttpJson.WriteErrorAsync(ctx, 415, "content-type", HttpJson.NotJson(ctx.Request.ContentType));
            else if (!ctx.Response.HasStarted && ctx.Response.StatusCode == 405)
                await HttpJson.WriteErrorAsync(ctx, 405, "method", $"{ctx.Request.Method} is not allowed on {ctx.Request.Path} (allowed: {ctx.Response.Headers.Allow})");
        }
        catch (RequestError e) when (!ctx.Response.HasStarted)
        {
            await HttpJson.WriteErrorAsync(ctx, e.Status, e.Field, e.Message);
        }
        catch (BadHttpRequestException e) when (!ctx.Response.HasStarted)
        {
            string message = e.StatusCode == 413 ? $"the body is over the {_options.MaxBodyBytes}-byte limit" : e.Message;
            await HttpJson.WriteErrorAsync(ctx, e.StatusCode, "body", message);
        }
        catch (RetrieverUnavailableException e) when (!ctx.Response.HasStarted)
        {
            // A part of the search is down (a shard with no live replica): the request may succeed on a retry.
            ctx.Response.Headers.RetryAfter = "1";
            await HttpJson.WriteErrorAsync(ctx, 503, "", e.Message);
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
        {
            if (!ctx.Response.HasStarted) ctx.Response.StatusCode = 499;  // the client went away; nobody to answer
        }
        catch (Exception e) when (!ctx.Response.HasStarted)
        {
            _log.LogError(e, "Request {Method} {Path} failed", ctx.Request.Method, ctx.Request.Path);
            await HttpJson.WriteErrorAsync(ctx, 500, "", $"internal error: {e.Message}");
        }
        finally
        {
            _metrics.Finished(route, ctx.Response.StatusCode, Stopwatch.GetTimestamp() - start);
        }
    }

    private static Task HealthAsync(HttpContext ctx) => HttpJson.WriteAsync(ctx, 200, 0, static (w, _) => w.WriteString("status", "ok"));

    private Task ReadyAsync(HttpContext ctx)
    {
        if (_lifetime.ApplicationStopping.IsCancellationRequested)
            return HttpJson.WriteAsync(ctx, 503, 0, static (w, _) => w.WriteString("status", "stopping"));
        if (_host.Current is null)
            return HttpJson.WriteAsync(ctx, 503, _host.LastReloadError, static (w, error) =>
            {
                w.WriteString("status", "waiting for bundle");
                if (error is not null) w.WriteString("last_reload_error", error);
            });
        return HttpJson.WriteAsync(ctx, 200, (bundle: _host.Current, lastError: _host.LastReloadError), static (w, s) =>
        {
            w.WriteString("status", "ready");
            w.WriteString("model_version", s.bundle.Version);
            w.WriteString("created_utc", s.bundle.CreatedUtc);
            w.WriteString("kind", ServingBundle.KindName(s.bundle.Service.Kind));
            w.WriteNumber("items", s.bundle.Service.ItemCount);
            w.WriteNumber("users", s.bundle.Service.UserCount);
            w.WriteNumber("features", s.bundle.Service.FeatureCount);
            if (s.lastError is not null) w.WriteString("last_reload_error", s.lastError);
        });
    }

    private async Task MetricsAsync(HttpContext ctx)
    {
        ctx.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        await ctx.Response.WriteAsync(_metrics.Render(_host), ctx.RequestAborted);
    }

    private async Task RecallAsync(HttpContext ctx)
    {
        long start = Stopwatch.GetTimestamp();
        using var timeout = RequestDeadline.Start(ctx.RequestAborted, _options.RequestTimeout);
        var request = await ReadJsonAsync(ctx, timeout.Token, static (body, limits) => RecallRequestReader.ReadRecall(body, limits));

        using var lease = _host.Acquire();
        var service = lease.Service;
        int topK = CheckTopK(service, request.TopK);
        var query = ToQuery(service, request.User, "");
        if (timeout.IsCancellationRequested) throw TimedOut();
        // Results in pooled buffers, written straight to the response: a warm recall allocates no result arrays.
        var rows = ArrayPool<int>.Shared.Rent(topK);
        var scores = ArrayPool<float>.Shared.Rent(topK);
        try
        {
            int found;
            // Asked for only: a cluster with a shard down then answers from the other shards, naming the missing ones.
            var partial = request.AllowPartial ? new PartialAnswer() : null;
            // Awaited: a retriever on other processes (a shard cluster) frees this thread while it waits; a local one answers at once.
            try { found = await service.RecallAsync(query, topK, rows, scores, request.ExcludeSeen, Width(request.EfSearch), partial, Patience(request.SearchPatience)); }
            catch (UserVectorException e) { throw Unusable(e, ""); }
            if (timeout.IsCancellationRequested) throw TimedOut();
            double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            await HttpJson.WriteAsync(ctx, 200, (service.Items, rows, scores, found, ms, lease.Bundle.Version, partial), static (w, s) =>
            {
                WriteItems(w, s.Items, s.rows.AsSpan(0, s.found), s.scores.AsSpan(0, s.found));
                w.WriteNumber("latency_ms", Math.Round(s.ms, 3));
                w.WriteString("model_version", s.Version);
                WritePartial(w, s.partial);
            });
        }
        finally
        {
            ArrayPool<int>.Shared.Return(rows);
            ArrayPool<float>.Shared.Return(scores);
        }
    }

    /// <summary>Batches are answered in chunks so that the per-request timeout is checked while they run.</summary>
    private const int BatchChunk = 32;

    private async Task BatchAsync(HttpContext ctx)
    {
        long start = Stopwatch.GetTimestamp();
        using var timeout = RequestDeadline.Start(ctx.RequestAborted, _options.RequestTimeout);
        var request = await ReadJsonAsync(ctx, timeout.Token, static (body, limits) => RecallRequestReader.ReadBatch(body, limits));

        using var lease = _host.Acquire();
        var service = lease.Service;
        int topK = CheckTopK(service, request.TopK);
        int width = Width(request.EfSearch), patience = Patience(request.SearchPatience);
        var queries = new UserQuery[request.Users.Length];
        for (int i = 0; i < queries.Length; i++) queries[i] = ToQuery(service, request.Users[i], $"users[{i}].");
        var results = new RecallResult[queries.Length];
        for (int at = 0; at < queries.Length; at += BatchChunk)
        {
            if (timeout.IsCancellationRequested) throw TimedOut();
            int n = Math.Min(BatchChunk, queries.Length - at);
            // Awaited, as /v1/recall: a shard cluster's fan-outs run while this thread serves other requests.
            try { (await service.BatchRecallAsync(queries.AsMemory(at, n), topK, request.ExcludeSeen, width, request.AllowPartial, patience)).CopyTo(results, at); }
            catch (UserVectorException e) { throw Unusable(e, $"users[{at + e.Row}]."); }
        }
        if (timeout.IsCancellationRequested) throw TimedOut();
        double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        await HttpJson.WriteAsync(ctx, 200, (request, results, ms, lease.Bundle.Version), static (w, s) =>
        {
            w.WriteStartArray("results");
            for (int i = 0; i < s.results.Length; i++)
            {
                w.WriteStartObject();
                w.WritePropertyName("user_id");
                IdMap.WriteKey(w, s.request.Users[i].UserId);
                WriteItems(w, s.results[i].Items, s.results[i].ItemRows, s.results[i].Scores);
                WritePartial(w, s.results[i].Partial);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteNumber("latency_ms", Math.Round(s.ms, 3));
            w.WriteString("model_version", s.Version);
        });
    }

    /// <summary>Refuses a request without the admin bearer token (403 when admin endpoints are off, 401 when the token is missing or wrong).</summary>
    private void RequireAdmin(HttpContext ctx)
    {
        if (_adminToken is null)
            throw new RequestError(403, "authorization", $"admin endpoints are off; start the server with {ServerOptions.AdminTokenVariable} set to turn them on");
        string header = ctx.Request.Headers.Authorization.ToString();
        var given = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? Encoding.UTF8.GetBytes(header[7..].Trim()) : [];
        if (!CryptographicOperations.FixedTimeEquals(given, _adminToken))
        {
            ctx.Response.Headers.WWWAuthenticate = "Bearer";
            throw new RequestError(401, "authorization", header.Length == 0 ? "missing 'Authorization: Bearer <token>' header" : "wrong bearer token");
        }
    }

    /// <summary><c>PUT /v1/items</c>: adds or replaces items by id (admin); answers once every change is durable.</summary>
    private async Task PutItemsAsync(HttpContext ctx, Lazy<IItemWriter> writers)
    {
        long start = Stopwatch.GetTimestamp();
        RequireAdmin(ctx);
        var writer = WriterOf(writers);
        using var timeout = RequestDeadline.Start(ctx.RequestAborted, _options.RequestTimeout);
        var items = await ReadJsonAsync(ctx, timeout.Token, static (body, limits) => RecallRequestReader.ReadItems(body, limits));
        ItemChange[] changes;
        using (var lease = _host.Acquire()) changes = ItemChanges(items, lease.Bundle.ItemEncoder, writer.Dimension);
        var results = await WriteItemsAsync(writer, changes);
        await HttpJson.WriteAsync(ctx, 200, (results, ms: Stopwatch.GetElapsedTime(start).TotalMilliseconds), static (w, s) =>
        {
            w.WriteStartArray("items");
            foreach (var r in s.results)
            {
                w.WriteStartObject();
                w.WritePropertyName("id");
                IdMap.WriteKey(w, r.Key);
                w.WriteNumber("shard", r.Shard);
                w.WriteBoolean("replaced", r.Found);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteNumber("latency_ms", Math.Round(s.ms, 3));
        });
    }

    /// <summary>
    /// The changes <paramref name="items"/> ask for: vectors as sent (their width checked), descriptions encoded by the bundle's
    /// item tower in one batch (each checked first: a field it cannot read is the client's error, named by its path).
    /// </summary>
    private static ItemChange[] ItemChanges(ItemPut[] items, ItemFeatureEncoder? encoder, int dimension)
    {
        var described = new List<int>();
        for (int i = 0; i < items.Length; i++)
        {
            if (items[i].Vector is { } vector)
            {
                if (vector.Length != dimension) throw new RequestError(400, $"items[{i}].vector", $"has {vector.Length} values; this cluster's items have {dimension}");
                continue;
            }
            if (encoder is null)
                throw new RequestError(400, $"items[{i}]", "this bundle has no item tower to encode a description with (its model reads item ids only, or the bundle predates item towers in bundles); send the item's vector");
            try { encoder.Check(items[i].Description!); }
            catch (ItemDescriptionException e) { throw new RequestError(400, $"items[{i}].{e.Field}", e.Message); }
            described.Add(i);
        }
        var vectors = described.Count == 0 ? [] : encoder!.EncodeChecked([.. described.Select(i => items[i].Description!)]);
        var changes = items.Select(item => new ItemChange(item.Id, item.Vector)).ToArray();
        for (int j = 0; j < described.Count; j++) changes[described[j]] = new ItemChange(items[described[j]].Id, vectors[j]);
        return changes;
    }

    /// <summary><c>DELETE /v1/items/{id}</c>: removes an item (admin); 404 when the cluster does not hold it.</summary>
    private async Task DeleteItemAsync(HttpContext ctx, Lazy<IItemWriter> writers)
    {
        long start = Stopwatch.GetTimestamp();
        RequireAdmin(ctx);
        var writer = WriterOf(writers);
        string id = ctx.Request.RouteValues["id"] as string ?? "";
        if (id.Length is 0 or > RecallRequestReader.MaxIdLength) throw new RequestError(400, "id", $"an item id is 1 to {RecallRequestReader.MaxIdLength} characters, got {id.Length}");
        var result = (await WriteItemsAsync(writer, [new ItemChange(id, null)]))[0];
        if (!result.Found) throw new RequestError(404, "id", $"item {Quoted(id)} is not in the cluster");
        await HttpJson.WriteAsync(ctx, 200, (result, ms: Stopwatch.GetElapsedTime(start).TotalMilliseconds), static (w, s) =>
        {
            w.WritePropertyName("id");
            IdMap.WriteKey(w, s.result.Key);
            w.WriteNumber("shard", s.result.Shard);
            w.WriteBoolean("deleted", true);
            w.WriteNumber("latency_ms", Math.Round(s.ms, 3));
        });
    }

    /// <summary>
    /// <c>POST /v1/admin/compact[?resume=true]</c>: folds the live changes into the stored items while serving (admin);
    /// writes wait meanwhile (503, Retry-After), reads go on. 409 while another compaction holds the writers.
    /// </summary>
    private async Task CompactAsync(HttpContext ctx, Lazy<IItemWriter> writers)
    {
        RequireAdmin(ctx);
        var writer = WriterOf(writers);
        string resumeText = ctx.Request.Query["resume"].ToString();
        bool resume = resumeText switch
        {
            "" or "false" => false,
            "true" => true,
            _ => throw new RequestError(400, "resume", $"must be true or false, got '{Excerpt.Of(resumeText)}'"),
        };
        ItemCompaction done;
        try { done = await writer.CompactAsync(resume, ctx.RequestAborted); }
        catch (ShardSetSealedException e) { throw new RequestError(409, "compact", $"{e.Message}; if the compaction that sealed it stopped, finish it with ?resume=true"); }
        await HttpJson.WriteAsync(ctx, 200, done, static (w, d) =>
        {
            w.WriteBoolean("compacted", true);
            w.WriteNumber("generation", d.Generation);
            w.WriteNumber("live_items", d.LiveItems);
            w.WriteNumber("deleted_items", d.DeletedItems);
            w.WriteNumber("replicas_reloaded", d.ReplicasReloaded);
            w.WriteNumber("replicas", d.Replicas);
            w.WriteNumber("writes_paused_ms", Math.Round(d.PausedSeconds * 1000, 1));
        });
    }

    /// <summary>The item writer, once a bundle is loaded (until then the server is not ready: 503).</summary>
    private IItemWriter WriterOf(Lazy<IItemWriter> writers)
    {
        using var lease = _host.Acquire();
        return writers.Value;
    }

    /// <summary>The writer's results; a change it refuses is the client's error.</summary>
    private static async Task<ItemChangeResult[]> WriteItemsAsync(IItemWriter writer, ItemChange[] changes)
    {
        try { return await writer.WriteAsync(changes); }
        catch (ArgumentException e) { throw new RequestError(400, "items", e.Message); }
    }

    private async Task ReloadAsync(HttpContext ctx)
    {
        RequireAdmin(ctx);
        var outcome = await _host.ReloadAsync(ctx.RequestAborted);
        await HttpJson.WriteAsync(ctx, outcome.Succeeded ? 200 : 422, (outcome, current: _host.Current), static (w, s) =>
        {
            w.WriteBoolean("reloaded", s.outcome.Succeeded);
            if (s.outcome.Error is { } error)
            {
                w.WriteString("error", error);
                w.WriteString("field", "bundle");
                w.WriteNumber("status", 422);
            }
            w.WriteString("previous_version", s.outcome.PreviousVersion);
            w.WriteString("model_version", s.outcome.CurrentVersion);
            w.WriteNumber("items", s.current?.Service.ItemCount ?? 0);
            w.WriteNumber("load_ms", Math.Round(s.outcome.LoadMs, 1));
        });
    }

    private RequestError BodyTooSlow() => new(408, "body", $"the body did not arrive within the {_options.RequestTimeout.TotalMilliseconds:F0} ms timeout");

    private RequestError TimedOut() => new(503, "body", $"the request took longer than the {_options.RequestTimeout.TotalMilliseconds:F0} ms timeout (--request-timeout-ms)");

    /// <summary>A user whose features give no usable vector is the client's error, named by its features field.</summary>
    private static RequestError Unusable(UserVectorException e, string prefix) => new(400, prefix + e.Field, e.Message);

    /// <summary>Reads the body within the size limit and the timeout, and parses it (given the batch and history caps); the body's buffer is released whatever the parse does.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<T> ReadJsonAsync<T>(HttpContext ctx, CancellationToken token, Func<ReadOnlySequence<byte>, RequestLimits, T> parse)
    {
        long start = Stopwatch.GetTimestamp();
        System.IO.Pipelines.ReadResult body;
        try { body = await HttpJson.ReadBodyAsync(ctx, _options.MaxBodyBytes, token); }
        catch (OperationCanceledException) when (!ctx.RequestAborted.IsCancellationRequested) { throw BodyTooSlow(); }
        try
        {
            // The clock decides, not only the deadline's timer: on a busy machine the timer's callback can run after a late
            // body has arrived, and that body is still late.
            if (Stopwatch.GetElapsedTime(start) >= _options.RequestTimeout) throw BodyTooSlow();
            return parse(body.Buffer, new RequestLimits(_options.MaxBatch, _options.MaxHistory));
        }
        finally { ctx.Request.BodyReader.AdvanceTo(body.Buffer.End); }
    }

    private int CheckTopK(RecallService service, long topK)
    {
        int cap = Math.Min(_options.MaxTopK, service.ItemCount);
        if (topK < 1) throw new RequestError(400, "top_k", $"must be at least 1, got {(topK == long.MinValue ? "a larger negative number" : topK)}");
        if (topK > cap)
            throw new RequestError(400, "top_k", $"must be at most {cap} ({(cap == service.ItemCount ? "the number of items" : "the server's --max-top-k")}), got {(topK == long.MaxValue ? "a larger number" : topK)}");
        return (int)topK;
    }

    /// <summary>This search's width: the request's <c>ef_search</c> (1 .. the server's <c>--max-ef-search</c>), or the server's <c>--ef-search</c> when it gives none.</summary>
    private int Width(long? given)
    {
        if (given is not { } efSearch) return _options.EfSearch;
        if (efSearch < 1) throw new RequestError(400, "ef_search", $"must be at least 1, got {(efSearch == long.MinValue ? "a larger negative number" : efSearch)}");
        if (efSearch > _options.MaxEfSearch)
            throw new RequestError(400, "ef_search", $"must be at most {_options.MaxEfSearch} (the server's --max-ef-search), got {(efSearch == long.MaxValue ? "a larger number" : efSearch)}");
        return (int)efSearch;
    }

    /// <summary>This search's patience: the request's <c>search_patience</c> (0 turns it off), or the server's <c>--search-patience</c> when it gives none.</summary>
    private int Patience(long? given)
    {
        if (given is not { } patience) return _options.SearchPatience;
        if (patience < 0) throw new RequestError(400, "search_patience", $"must not be negative, got {(patience == long.MinValue ? "a larger negative number" : patience)}");
        return (int)Math.Min(patience, int.MaxValue);
    }

    /// <summary>A request's user as the service's query, with every field checked against the served bundle.</summary>
    private static UserQuery ToQuery(RecallService service, UserRequest user, string prefix)
    {
        if (user.Features is { } features && features.Length != service.FeatureCount)
            throw new RequestError(400, prefix + "features", $"has {features.Length} values; this model takes {service.FeatureCount}");
        int row = service.Users.TryGetRow(user.UserId, out int known) ? known : -1;
        if (row < 0)
        {
            if (user.Features is null && service.FeatureCount > 0)
                throw new RequestError(400, prefix + "user_id", $"user {Quoted(user.UserId)} is not in the bundle ({service.UserCount} users); send its {service.FeatureCount} profile features in 'features' to recall for a new user");
            if (service.FeatureCount == 0 && user.History is null)
                throw new RequestError(400, prefix + "user_id", $"user {Quoted(user.UserId)} is not in the bundle ({service.UserCount} users) and this model has no profile features; send the user's recent items in 'history'");
        }
        int[]? history = null;
        if (user.History is { } items)
        {
            history = new int[items.Length];
            for (int i = 0; i < items.Length; i++)
                if (!service.Items.TryGetRow(items[i], out history[i]))
                    throw new RequestError(400, $"{prefix}history[{i}]", $"item {Quoted(items[i])} is not in the bundle");
        }
        return new UserQuery(row, user.Features is null ? default : user.Features, history);
    }

    /// <summary>An id in a message: bare when it is an integer, quoted (and cut short) otherwise.</summary>
    private static string Quoted(string id) => long.TryParse(id, out _) ? id : $"'{Excerpt.Of(id)}'";

    /// <summary>Where a partial answer was accepted (<c>allow_partial</c>): whether it is partial and which shards are missing.</summary>
    private static void WritePartial(Utf8JsonWriter w, PartialAnswer? partial)
    {
        if (partial is null) return;
        w.WriteBoolean("partial", partial.IsPartial);
        w.WriteStartArray("missing_shards");
        foreach (int shard in partial.Missing) w.WriteNumberValue(shard);
        w.WriteEndArray();
    }

    private static void WriteItems(Utf8JsonWriter w, IdMap items, ReadOnlySpan<int> rows, ReadOnlySpan<float> scores)
    {
        w.WriteStartArray("item_ids");
        foreach (int row in rows) items.WriteValue(w, row);
        w.WriteEndArray();
        w.WriteStartArray("scores");
        foreach (float s in scores) w.WriteNumberValue(s);
        w.WriteEndArray();
    }
}
