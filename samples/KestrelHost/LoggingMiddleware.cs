using Adapter;

namespace KestrelHost;

/// <summary>Gateway middleware: an app that wraps an app and logs the method and path of each request.</summary>
internal sealed partial class LoggingMiddleware(GatewayApp inner, ILogger logger)
{
    public IEnumerable<byte[]> Invoke(IDictionary<string, object?> environ, StartResponse startResponse)
    {
        LogRequest(logger, environ["REQUEST_METHOD"] as string ?? "", $"{environ["SCRIPT_NAME"]}{environ["PATH_INFO"]}");
        return inner(environ, startResponse);
    }

    [LoggerMessage(100, LogLevel.Information, "Mini app: {Method} {Path}")]
    private static partial void LogRequest(ILogger logger, string method, string path);
}
