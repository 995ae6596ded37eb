using Microsoft.AspNetCore.Builder;
using VectorRecall.Retrieval;
using VectorRecall.Serving;

namespace VectorRecall.Server;

/// <summary>
/// How a larger host embeds the recall server: <see cref="ConfigureHost"/> adds its own services to the web host (an Orleans
/// silo beside the routes), and <see cref="SearchWith"/>, given the built services, makes the retriever each loaded bundle's
/// users are searched by instead of the bundle's own index (a shard cluster's); <see cref="WriteItemsWith"/>, when given,
/// makes what takes live item changes, and turns on <c>PUT /v1/items</c> and <c>DELETE /v1/items/{id}</c>.
/// </summary>
public sealed record ServerHosting
{
    public Action<WebApplicationBuilder>? ConfigureHost { get; init; }
    public Func<IServiceProvider, IRetriever>? SearchWith { get; init; }
    public Func<IServiceProvider, IItemWriter>? WriteItemsWith { get; init; }
}
