namespace Adapter;

/// <summary>Options of the gateway adapter's worker pool; bound from the <c>Gateway</c> configuration section by <c>AddGateway</c>.</summary>
public sealed class GatewayOptions
{
    /// <summary>The number of dedicated worker threads that run applications. Default: max(16, 4 × processor count).</summary>
    public int WorkerThreads { get; set; } = Math.Max(16, 4 * Environment.ProcessorCount);

    /// <summary>How many requests may wait for a worker; past it the adapter answers 503 at once. Default: 1024.</summary>
    public int QueueLimit { get; set; } = 1024;

    /// <summary>
    /// The longest an application may go without handing the adapter anything (its return, a chunk, a write).
    /// Default: 30 seconds; <see cref="Timeout.InfiniteTimeSpan"/> turns it off.
    /// </summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);
}
