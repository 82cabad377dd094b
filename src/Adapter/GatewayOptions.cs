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
    /// Request bodies whose declared Content-Length is at most this many bytes are read into memory before the
    /// request takes a worker, so a slow uploader holds no worker. Larger and chunked bodies are spooled
    /// (<see cref="RequestSpoolLimit"/>) or streamed. Default: 64 KiB.
    /// </summary>
    public int RequestBufferSize { get; set; } = 64 * 1024;

    /// <summary>
    /// Response bytes that a slow client has not taken beyond <see cref="ResponseBufferSize"/> are written to a
    /// temporary file, up to this many per response, so the worker is free as soon as the app is done (nginx's
    /// proxy buffering). Past it, the app is held back by the client again. Default: 1 GiB; 0 turns spooling off.
    /// </summary>
    public long ResponseSpoolLimit { get; set; } = 1L << 30;

    /// <summary>
    /// A request body larger than <see cref="RequestBufferSize"/> (or chunked) is read to a temporary file, up to
    /// this many bytes, before the request takes a worker, so a slow uploader holds a connection, not a worker.
    /// A declared body over this limit, and what a chunked one sends past it, streams to the app as it arrives.
    /// Default: 1 GiB; 0 turns spooling off (uploads stream to the app).
    /// </summary>
    public long RequestSpoolLimit { get; set; } = 1L << 30;

    /// <summary>
    /// All spool files of this pool together hold at most this many bytes; a response or body that finds the budget
    /// spent is not spooled (it streams, with back-pressure). Default: 8 GiB.
    /// </summary>
    public long SpoolDiskBudget { get; set; } = 8L << 30;

    /// <summary>
    /// The directory for spool files (each deleted as soon as it is opened). Default: the system's temporary
    /// directory (<c>TMPDIR</c>).
    /// </summary>
    public string? SpoolDirectory { get; set; }

    /// <summary>
    /// How long a worker waits on a client that takes or sends no bytes once the spools cannot help (full, or
    /// turned off); past it the client is dropped like any departed client. Default: 10 seconds.
    /// </summary>
    public TimeSpan ClientTimeout { get; set; } = TimeSpan.FromSeconds(10);
}
