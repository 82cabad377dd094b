namespace KestrelHost;

/// <summary>The sample host's own log messages.</summary>
internal static partial class SampleLog
{
    [LoggerMessage(1, LogLevel.Warning, "The Flask app is not mounted at /flask: {Reason}")]
    public static partial void FlaskUnavailable(ILogger logger, string reason);
}
