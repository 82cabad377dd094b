using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Adapter.Cli;

/// <summary>
/// <c>--access-logfile</c>: takes ASP.NET Core's HTTP logging entries (one per request, <c>CombineLogs</c>) and writes
/// each as one <see cref="AccessLogLine"/> to standard output or a file. Every other category gets a null logger.
/// </summary>
internal sealed class AccessLogLoggerProvider(TextWriter writer, bool ownsWriter) : ILoggerProvider
{
    /// <summary>The HTTP logging middleware's category.</summary>
    public const string Category = "Microsoft.AspNetCore.HttpLogging.HttpLoggingMiddleware";

    /// <summary>Standard output for <c>-</c>, else the file opened for appending and reopened on SIGUSR1 (<see cref="LogFile"/>).</summary>
    public static AccessLogLoggerProvider Open(string target) =>
        target == "-" ? new AccessLogLoggerProvider(Console.Out, ownsWriter: false) : new AccessLogLoggerProvider(LogFile.Create(target), ownsWriter: true);

    /// <summary>The file written, null for standard output.</summary>
    public LogFile? File => writer as LogFile;

    public ILogger CreateLogger(string categoryName) =>
        categoryName == Category ? new AccessLogLogger(writer) : NullLogger.Instance;

    public void Dispose()
    {
        if (ownsWriter)
        {
            writer.Dispose();
        }
    }
}
