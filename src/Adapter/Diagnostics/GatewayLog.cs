using Microsoft.Extensions.Logging;

namespace Adapter;

/// <summary>The adapter's log messages. Event ids are stable: operators filter and alert on them.</summary>
internal static partial class GatewayLog
{
    public const string CategoryName = "Adapter.Gateway";

    [LoggerMessage(1, LogLevel.Error, "Gateway app failed before the response started on {Method} {Path}.")]
    public static partial void AppFailedBeforeResponse(ILogger logger, string method, string path, Exception exception);

    [LoggerMessage(2, LogLevel.Error, "Gateway app failed after the response started on {Method} {Path}; the connection is aborted.")]
    public static partial void AppFailedAfterResponse(ILogger logger, string method, string path, Exception exception);

    [LoggerMessage(3, LogLevel.Debug, "Client disconnected during {Method} {Path}; the request is stopped.")]
    public static partial void ClientDisconnected(ILogger logger, string method, string path);

    [LoggerMessage(4, LogLevel.Warning, "Gateway app produced more than its Content-Length of {ContentLength} bytes on {Method} {Path}; the excess is cut off.")]
    public static partial void ContentLengthExceeded(ILogger logger, long contentLength, string method, string path);

    [LoggerMessage(5, LogLevel.Warning, "Gateway app produced {Sent} of its Content-Length of {ContentLength} bytes on {Method} {Path}; the connection is closed.")]
    public static partial void ContentLengthShort(ILogger logger, long sent, long contentLength, string method, string path);

    [LoggerMessage(6, LogLevel.Warning, "Gateway app produced a body for a {StatusCode} response on {Method} {Path}; it is dropped.")]
    public static partial void BodyDropped(ILogger logger, int statusCode, string method, string path);

    [LoggerMessage(7, LogLevel.Error, "Disposing the gateway app's iterable failed on {Method} {Path}.")]
    public static partial void DisposeFailed(ILogger logger, string method, string path, Exception exception);

    [LoggerMessage(8, LogLevel.Error, "wsgi.errors on {Path}: {Line}")]
    public static partial void ErrorsLine(ILogger logger, string path, string line);

    [LoggerMessage(9, LogLevel.Warning, "Bad request body on {Method} {Path}: answered {StatusCode}.")]
    public static partial void BadRequestBody(ILogger logger, string method, string path, int statusCode, Exception exception);

    [LoggerMessage(10, LogLevel.Warning, "Worker queue full ({QueueLimit}); {Method} {Path} answered 503.")]
    public static partial void QueueFull(ILogger logger, int queueLimit, string method, string path);

    [LoggerMessage(11, LogLevel.Warning, "Gateway app was silent for {Timeout} on {Method} {Path}; the request timed out.")]
    public static partial void RequestTimedOut(ILogger logger, TimeSpan timeout, string method, string path);

    [LoggerMessage(12, LogLevel.Debug, "Request {Method} {Path} left the queue after its client went away; the app is not called.")]
    public static partial void DroppedWhileQueued(ILogger logger, string method, string path);

    [LoggerMessage(13, LogLevel.Debug, "Gateway worker {WorkerName} started.")]
    public static partial void WorkerStarted(ILogger logger, string workerName);

    [LoggerMessage(14, LogLevel.Warning, "Gateway worker {WorkerName} is stuck in an app past its timeout; a replacement is started.")]
    public static partial void WorkerAbandoned(ILogger logger, string workerName);

    [LoggerMessage(15, LogLevel.Debug, "Gateway is stopping; {Method} {Path} answered 503.")]
    public static partial void RejectedWhileStopping(ILogger logger, string method, string path);

    [LoggerMessage(16, LogLevel.Warning, "{Count} gateway workers are stuck in apps past their timeout, the replacement cap (WorkerThreads); no further replacements are started until one returns, so requests may wait and time out.")]
    public static partial void TooManyAbandoned(ILogger logger, int count);

    [LoggerMessage(17, LogLevel.Warning, "Client took no response bytes for {Silence} while the app waited on it during {Method} {Path}; the connection is dropped.")]
    public static partial void SilentClientDropped(ILogger logger, TimeSpan silence, string method, string path);

    [LoggerMessage(18, LogLevel.Error, "The process running the app failed during {Method} {Path}: {Reason} Answered 502.")]
    public static partial void UpstreamFailed(ILogger logger, string method, string path, string reason);

    [LoggerMessage(19, LogLevel.Warning, "Request path {Path} decodes to a dot segment ({PathInfo}); answered 400 without calling the app.")]
    public static partial void AmbiguousPath(ILogger logger, string path, string pathInfo);

    [LoggerMessage(20, LogLevel.Warning, "Writing a spool file failed during {Method} {Path}; the request goes on without spooling.")]
    public static partial void SpoolFailed(ILogger logger, string method, string path, Exception exception);
}
