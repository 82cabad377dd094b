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

    [LoggerMessage(103, LogLevel.Information, "Started {Count} Python worker processes (pids {Pids}).")]
    public static partial void WorkersStarted(ILogger logger, int count, string pids);

    [LoggerMessage(104, LogLevel.Information, "Reloading: starting {Count} fresh Python worker processes.")]
    public static partial void Reloading(ILogger logger, int count);

    [LoggerMessage(105, LogLevel.Information, "Reloaded: requests go to generation {Generation} (pids {Pids}); the old workers stop as their requests end.")]
    public static partial void Reloaded(ILogger logger, int generation, string pids);

    [LoggerMessage(106, LogLevel.Error, "Python worker processes failed to start; the running ones, if any, keep serving. {Reason}")]
    public static partial void GenerationFailed(ILogger logger, string reason);

    [LoggerMessage(107, LogLevel.Error, "A replacement Python worker process failed to start; retrying with back-off. {Reason}")]
    public static partial void WorkerStartFailed(ILogger logger, string reason);

    [LoggerMessage(108, LogLevel.Error, "Python worker process {Pid} ended unexpectedly {When} ({Exit}); a new one is started. Its last output:\n{Tail}")]
    public static partial void WorkerCrashed(ILogger logger, int pid, string exit, string when, string tail);

    [LoggerMessage(109, LogLevel.Warning, "Python worker process {Pid} was silent past the request timeout ({Timeout}); it is killed and replaced.")]
    public static partial void WorkerTimedOut(ILogger logger, int pid, TimeSpan timeout);

    [LoggerMessage(110, LogLevel.Information, "Python worker process {Pid} served {Served} requests, its limit; it is replaced.")]
    public static partial void WorkerRecycled(ILogger logger, int pid, int served);

    [LoggerMessage(112, LogLevel.Critical, "The Python worker supervisor failed to handle an event.")]
    public static partial void SupervisorFailed(ILogger logger, Exception exception);

    [LoggerMessage(113, LogLevel.Warning, "Reload requested ({Source}), but Python apps run in-process (Processes = 0): only worker processes can be reloaded. Ignored.")]
    public static partial void ReloadIgnored(ILogger logger, string source);

    [LoggerMessage(114, LogLevel.Information, "Reload requested ({Source}).")]
    public static partial void ReloadRequested(ILogger logger, string source);

    [LoggerMessage(115, LogLevel.Error, "Reload failed; the running workers keep serving.")]
    public static partial void ReloadFailed(ILogger logger, Exception exception);

    [LoggerMessage(118, LogLevel.Debug, "In-process: the .NET thread pool's spin limit, read when the pool starts, is {Setting} (the package sets 0 for worker processes).")]
    public static partial void ThreadPoolSpinRestored(ILogger logger, string setting);

    [LoggerMessage(119, LogLevel.Information, "In-process: the .NET thread pool had started ({Threads} threads) before the gateway was built, so its workers do not spin; Python in-process serves more with the spin (set AdapterPythonThreadPoolSpin to true, or build the gateway before the host starts).")]
    public static partial void ThreadPoolSpinKept(ILogger logger, int threads);

    [LoggerMessage(130, LogLevel.Information, "{Signal}: the Python worker processes' target count is now {Count}.")]
    public static partial void WorkerCountChanged(ILogger logger, int count, string signal);

    [LoggerMessage(116, LogLevel.Information, "Python worker process {Pid} ended on its own (exit code 0, after a SIGTERM); a new one is started if the host keeps running.")]
    public static partial void WorkerExited(ILogger logger, int pid);

    [LoggerMessage(117, LogLevel.Warning, "The in-process Python app serving {Method} {Path} ran past the request timeout ({Timeout}) on {Worker}: RequestTimeoutError was raised in its thread. It was at:\n{Stack}")]
    public static partial void Interrupted(ILogger logger, string method, string path, TimeSpan timeout, string worker, string stack);
}
