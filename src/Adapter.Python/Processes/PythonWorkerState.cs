namespace Adapter;

/// <summary>Where a Python worker process is in its life; reported by the <c>gateway.python.workers</c> gauge.</summary>
internal enum PythonWorkerState
{
    /// <summary>Started, importing the apps.</summary>
    Starting,

    /// <summary>Ready and waiting for a request.</summary>
    Idle,

    /// <summary>Serving a request.</summary>
    Busy,

    /// <summary>Told to end (recycled, reloaded, timed out, or the host is stopping).</summary>
    Stopping,
}
