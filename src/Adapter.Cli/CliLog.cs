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
}
