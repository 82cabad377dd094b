using Microsoft.Extensions.Logging;

namespace Adapter.Cli;

/// <summary>The <c>gateway</c> command's own log lines (category <c>Adapter.Cli</c>).</summary>
internal static partial class CliLog
{
    public const string CategoryName = "Adapter.Cli";

    [LoggerMessage(201, LogLevel.Information, "Serving {Count} Python app(s): {Apps}.")]
    public static partial void Serving(ILogger logger, int count, string apps);

    [LoggerMessage(202, LogLevel.Debug, "An app failed to load: {Detail}")]
    public static partial void LoadFailed(ILogger logger, string detail);

    [LoggerMessage(210, LogLevel.Information, "SIGUSR1: reopened {Count} log file(s).")]
    public static partial void LogFilesReopened(ILogger logger, int count);

    [LoggerMessage(211, LogLevel.Error, "SIGUSR1: cannot reopen {Path}; the log goes on to the file already open.")]
    public static partial void ReopenFailed(ILogger logger, string path, Exception exception);

    [LoggerMessage(212, LogLevel.Information, "{Signal} ignored: {Reason}.")]
    public static partial void SignalIgnored(ILogger logger, string signal, string reason);

    [LoggerMessage(213, LogLevel.Debug, "SIGWINCH ignored (gunicorn stops its workers on it only when daemonized).")]
    public static partial void WindowChangeIgnored(ILogger logger);
}
