using Microsoft.Extensions.Logging;

namespace Adapter;

/// <summary>The Python bridge's log messages; event ids 101 and up, category <c>Adapter.Python</c>.</summary>
internal static partial class PythonGatewayLog
{
    public const string CategoryName = "Adapter.Python";

    [LoggerMessage(101, LogLevel.Information, "CPython {Version} started from {Library}.")]
    public static partial void Started(ILogger logger, string? version, string? library);

    [LoggerMessage(102, LogLevel.Information, "Loaded the Python WSGI app {Target}.")]
    public static partial void Loaded(ILogger logger, string target);
}
