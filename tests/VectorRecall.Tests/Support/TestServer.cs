using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using VectorRecall.Server;

namespace VectorRecall.Tests;

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
