using Microsoft.Extensions.Logging;

namespace Adapter;

/// <summary>
/// Python's own log records and what is written to fd 1 and 2 (one entry per write burst, see
/// <see cref="PythonOutputReader"/>), in both modes: category <c>Python.&lt;logger name&gt;</c> (<c>Python.werkzeug</c>,
/// <c>Python.myapp</c>) at the record's level; <c>Python.stdout</c> at Information and <c>Python.stderr</c> at
/// Warning; event 120.
/// </summary>
internal static partial class PythonLogging
{
    public const string CategoryPrefix = "Python.";

    /// <summary>Logs one entry; <paramref name="level"/> is Python's (10 DEBUG … 50 CRITICAL).</summary>
    public static void Write(ILoggerFactory factory, int level, string name, string text) =>
        Record(factory.CreateLogger(CategoryPrefix + name), Level(level), LogText.EscapeKeepingLines(text));

    /// <summary>Python's level number as a <see cref="LogLevel"/>.</summary>
    public static LogLevel Level(int level) => level switch
    {
        >= 50 => LogLevel.Critical,
        >= 40 => LogLevel.Error,
        >= 30 => LogLevel.Warning,
        >= 20 => LogLevel.Information,
        >= 10 => LogLevel.Debug,
        _ => LogLevel.Trace,
    };

    [LoggerMessage(EventId = 120, Message = "{Text}")]
    private static partial void Record(ILogger logger, LogLevel level, string text);
}
