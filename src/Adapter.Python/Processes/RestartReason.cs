namespace Adapter;

/// <summary>Why a Python worker process was replaced; the <c>gateway.restart.reason</c> tag of <c>gateway.worker_process.restarts</c>.</summary>
internal enum RestartReason
{
    /// <summary>Not counted: the host is stopping, or a starting generation was superseded.</summary>
    None,

    /// <summary>The process ended on its own (<c>crash</c>).</summary>
    Crash,

    /// <summary>Killed after staying silent past the request timeout (<c>timeout</c>).</summary>
    Timeout,

    /// <summary>Recycled after its request limit (<c>max_requests</c>).</summary>
    MaxRequests,

    /// <summary>Replaced by a reload (<c>reload</c>).</summary>
    Reload,
}
