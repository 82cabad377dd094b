using Microsoft.Extensions.Logging;

namespace Adapter.Cli;

/// <summary>Writes the HTTP logging middleware's combined request-and-response entry (event 9) as one line.</summary>
internal sealed class AccessLogLogger(TextWriter writer) : ILogger
{
    /// <summary>The middleware's <c>RequestResponseLog</c> event: one per request when <c>CombineLogs</c> is on.</summary>
    private const int RequestResponseLog = 9;

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (eventId.Id == RequestResponseLog && state is IReadOnlyList<KeyValuePair<string, object?>> fields)
        {
            // The writer is synchronized: Console.Out is, and a LogFile writes each line under its lock.
            writer.WriteLine(AccessLogLine.Format(fields, DateTimeOffset.Now));
        }
    }
}
