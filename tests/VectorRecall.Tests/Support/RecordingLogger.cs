using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;

namespace VectorRecall.Tests;

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
