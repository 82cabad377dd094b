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

    /// <summary>
    /// Bytes of one response taken from the application ahead of a slow client, beyond what Kestrel itself
    /// buffers. A response that fits is taken at the application's pace and its worker freed at once; a larger
    /// one holds the application back until the client catches up. Default: 256 KiB.
    /// </summary>
    public int ResponseBufferSize { get; set; } = 256 * 1024;

    /// <summary>
    /// Request bodies whose declared Content-Length is at most this many bytes are read in full before the
    /// request takes a worker, so a slow uploader holds no worker. Longer and chunked bodies stream. Default: 64 KiB.
    /// </summary>
    public int RequestBufferSize { get; set; } = 64 * 1024;
}
