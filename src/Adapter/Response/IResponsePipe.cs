using System.IO.Pipelines;

namespace Adapter;

/// <summary>
/// The response pipe as <see cref="GatewayBodyWriter"/> sees it: Kestrel's in the host, a stepped fake in the
/// interleaving tests. One side writes and flushes at a time; <see cref="GatewayBodyWriter"/> decides which.
/// </summary>
internal interface IResponsePipe
{
    /// <summary>Copies <paramref name="data"/> into the pipe's buffer; nothing is sent until a flush.</summary>
    void Write(ReadOnlySpan<byte> data);

    /// <summary>Hands what was written to the connection; pending while the client reads slower than the app writes.</summary>
    ValueTask<FlushResult> FlushAsync();

    /// <summary>True when a flush's result, or the request itself, says the client is gone.</summary>
    bool IsClientGone(FlushResult result);

    /// <summary>Ends the connection; pending flushes complete. Safe from any thread, more than once.</summary>
    void Abort();

    /// <summary>Ends the connection of a client that took no bytes for <paramref name="silence"/> while the app waited on it.</summary>
    void DropSilentClient(TimeSpan silence);

    /// <summary>Disposes <paramref name="resource"/> when the request has ended (a spool file).</summary>
    void DisposeWithRequest(IDisposable resource);

    /// <summary>Reports that spooling stopped on a write failure (a full disk); the response goes on with back-pressure.</summary>
    void SpoolFailed(Exception failure);

    /// <summary>On the worker, after <see cref="Abort"/>: returns once the app can see the request's abort token canceled (bounded).</summary>
    void WaitUntilAborted();
}
