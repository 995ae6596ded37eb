using Microsoft.AspNetCore.Builder;
using VectorRecall.Retrieval;

namespace VectorRecall.Server;

/// <summary>
/// How a larger host embeds the recall server: <see cref="ConfigureHost"/> adds its own services to the web host (an Orleans
/// silo beside the routes), and <see cref="SearchWith"/>, given the built services, makes the retriever each loaded bundle's
/// users are searched by instead of the bundle's own index (a shard cluster's).
/// </summary>
public sealed record ServerHosting
{
    public Action<WebApplicationBuilder>? ConfigureHost { get; init; }
    public Func<IServiceProvider, IRetriever>? SearchWith { get; init; }
}
