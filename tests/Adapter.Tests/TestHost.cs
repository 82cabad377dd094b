using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Adapter.Tests;

/// <summary>A real Kestrel host on a loopback port, with the adapter's log lines captured.</summary>
internal sealed class TestHost : IAsyncDisposable
{
    public static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    private readonly WebApplication _app;

    private TestHost(WebApplication app, LogSink logs, Uri address)
    {
        _app = app;
        Logs = logs;
        Address = address;
        Client = new HttpClient { BaseAddress = address, Timeout = Wait };
    }

    public Uri Address { get; }

    public int Port => Address.Port;

    public HttpClient Client { get; }

    public LogSink Logs { get; }

    public IServiceProvider Services => _app.Services;

    public static Task<TestHost> StartAsync(GatewayApp app, Action<GatewayOptions>? options = null) =>
        StartAsync(web => web.UseGatewayApp(app), services => services.AddGateway(options));

    public static async Task<TestHost> StartAsync(
        Action<WebApplication> pipeline,
        Action<IServiceCollection>? services = null,
        Action<WebApplicationBuilder>? builder = null)
    {
        var web = WebApplication.CreateSlimBuilder();
        web.WebHost.UseKestrel(k => k.Limits.MinResponseDataRate = null).UseUrls("http://127.0.0.1:0");
        var logs = new LogSink();
        web.Logging.ClearProviders().AddProvider(logs).SetMinimumLevel(LogLevel.Debug).AddFilter("Adapter", LogLevel.Debug).AddFilter("Microsoft.AspNetCore", LogLevel.Debug);
        services?.Invoke(web.Services);
        builder?.Invoke(web);
        var app = web.Build();
        try
        {
            pipeline(app);
            await app.StartAsync().WaitAsync(Wait);
        }
        catch
        {
            // A host that fails to start (an app that does not load) is still disposed: its Python workers and
            // their script folder go with it.
            await app.DisposeAsync();
            throw;
        }

        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        return new TestHost(app, logs, new Uri(address));
    }

    public RawConnection Connect() => new(Port);

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync().WaitAsync(Wait);
        await _app.DisposeAsync();
    }
}

/// <summary>One captured log line.</summary>
internal sealed record LogEntry(string Category, LogLevel Level, EventId EventId, string Message, Exception? Exception)
{
    /// <summary>The key-value pairs of the logging scopes active when the line was written.</summary>
    public IReadOnlyDictionary<string, object?> Scope { get; init; } = new Dictionary<string, object?>();

    /// <summary>True for the adapter's own event <paramref name="id"/>.</summary>
    public bool Is(int id) => Category == "Adapter.Gateway" && EventId.Id == id;
}

/// <summary>Collects every log line the host writes.</summary>
internal sealed class LogSink : ILoggerProvider, ISupportExternalScope
{
    private readonly ConcurrentQueue<LogEntry> _entries = new();
    private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

    public IReadOnlyList<LogEntry> Entries => [.. _entries];

    public IEnumerable<LogEntry> Adapter => _entries.Where(static e => e.Category == "Adapter.Gateway");

    public ILogger CreateLogger(string categoryName) => new SinkLogger(categoryName, this);

    /// <summary>Waits until a line matching <paramref name="match"/> was logged.</summary>
    public async Task<LogEntry> WaitForAsync(Func<LogEntry, bool> match)
    {
        var deadline = DateTime.UtcNow + TestHost.Wait;
        while (DateTime.UtcNow < deadline)
        {
            var found = _entries.FirstOrDefault(match);
            if (found is not null)
            {
                return found;
            }

            await Task.Delay(20);
        }

        throw new TimeoutException("The expected log line never came. Logged:\n" + string.Join("\n", _entries.Select(static e => $"{e.Level} {e.Category}[{e.EventId.Id}] {e.Message}")));
    }

    public void Dispose()
    {
    }

    private sealed class SinkLogger(string category, LogSink sink) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => sink._scopes.Push(state);

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var scope = new Dictionary<string, object?>();
            sink._scopes.ForEachScope(static (value, into) =>
            {
                if (value is IEnumerable<KeyValuePair<string, object?>> pairs)
                {
                    foreach (var (key, item) in pairs)
                    {
                        into[key] = item;
                    }
                }
            }, scope);
            sink._entries.Enqueue(new LogEntry(category, logLevel, eventId, formatter(state, exception), exception) { Scope = scope });
        }
    }
}
