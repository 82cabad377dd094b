using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Http;

namespace Adapter;

/// <summary>
/// Moves body bytes from the worker thread into Kestrel's response pipe with bounded read-ahead.
/// </summary>
/// <remarks>
/// While Kestrel keeps up, the worker writes and flushes straight into the pipe. When a flush is pending
/// (the client reads slower than the app yields), the worker does not wait for it per chunk: it copies the
/// chunk into a small queue and goes back to the app, while a drain loop, continued by Kestrel's own flush
/// completions, moves the queue into the pipe. The worker blocks only once <see cref="AheadLimit"/> bytes
/// are queued, so a slow client still slows the app and memory stays bounded (SPEC §4: every chunk is sent
/// before the next is asked for, or copied). Invariant: exactly one side writes to the pipe at a time: the
/// worker while <see cref="_draining"/> is false, the drain loop while it is true.
/// </remarks>
internal sealed class GatewayBodyWriter(GatewayExchange exchange)
{
    /// <summary>Bytes a response may hold queued ahead of Kestrel's own response buffer.</summary>
    public const int AheadLimit = 256 * 1024;

    private const int SegmentSize = 4096;

    private readonly object _gate = new();
    private List<(byte[] Buffer, int Count)> _ahead = [];
    private List<(byte[] Buffer, int Count)> _taking = [];
    private int _aheadBytes;
    private bool _draining;
    private Exception? _clientGone;

    /// <summary>Sends <paramref name="data"/>; on the worker thread, inside an adapter section. Throws when the client left.</summary>
    public void Send(ReadOnlySpan<byte> data)
    {
        lock (_gate)
        {
            while (_draining && _clientGone is null && _aheadBytes > 0 && _aheadBytes + data.Length > AheadLimit)
            {
                Monitor.Wait(_gate);
            }

            ThrowIfClientGone();
            if (_draining)
            {
                Queue(data);
                return;
            }
        }

        var context = exchange.Context;
        var writer = context.Response.BodyWriter;
        writer.Write(data);
        ValueTask<FlushResult> flush;
        try
        {
            flush = writer.FlushAsync(context.RequestAborted);
        }
        catch (OperationCanceledException ex)
        {
            throw new ClientDisconnectedException(ex);
        }

        if (!flush.IsCompleted)
        {
            lock (_gate)
            {
                _draining = true;
            }

            // The drain touches the response after this section ends, so it holds a section of its own:
            // the request cannot time out, and the worker cannot finish, while bytes are still moving.
            exchange.BeginAdapterWork();
            _ = DrainAsync(flush);
            return;
        }

        FlushResult result;
        try
        {
            result = flush.Result;
        }
        catch (OperationCanceledException ex)
        {
            throw new ClientDisconnectedException(ex);
        }

        if (IsClientGone(result, context))
        {
            throw new ClientDisconnectedException();
        }
    }

    /// <summary>Blocks until every queued byte is in Kestrel's pipe and flushed; throws when the client left.</summary>
    public void WaitForDrain()
    {
        lock (_gate)
        {
            WaitWhileDraining();
            ThrowIfClientGone();
        }
    }

    /// <summary>Blocks until the drain loop is done, whether or not the client is still there.</summary>
    public void Settle()
    {
        lock (_gate)
        {
            WaitWhileDraining();
        }
    }

    private void WaitWhileDraining()
    {
        while (_draining)
        {
            Monitor.Wait(_gate);
        }
    }

    private void Queue(ReadOnlySpan<byte> data)
    {
        // Small chunks share a segment, so a flood of tiny writes costs neither a rental nor a flush each.
        if (_ahead.Count > 0)
        {
            var (last, used) = _ahead[^1];
            if (last.Length - used >= data.Length)
            {
                data.CopyTo(last.AsSpan(used));
                _ahead[^1] = (last, used + data.Length);
                _aheadBytes += data.Length;
                return;
            }
        }

        var segment = ArrayPool<byte>.Shared.Rent(Math.Max(SegmentSize, data.Length));
        data.CopyTo(segment);
        _ahead.Add((segment, data.Length));
        _aheadBytes += data.Length;
    }

    private async Task DrainAsync(ValueTask<FlushResult> flush)
    {
        var context = exchange.Context;
        var writer = context.Response.BodyWriter;
        Exception? failure = null;
        try
        {
            while (true)
            {
                if (IsClientGone(await flush.ConfigureAwait(false), context))
                {
                    failure = new ClientDisconnectedException();
                    return;
                }

                lock (_gate)
                {
                    if (_ahead.Count == 0)
                    {
                        return;
                    }

                    (_ahead, _taking) = (_taking, _ahead);
                    _aheadBytes = 0;
                    Monitor.PulseAll(_gate);
                }

                foreach (var (buffer, count) in _taking)
                {
                    writer.Write(buffer.AsSpan(0, count));
                    ArrayPool<byte>.Shared.Return(buffer);
                }

                _taking.Clear();
                flush = writer.FlushAsync(context.RequestAborted);
            }
        }
        catch (Exception ex)
        {
            // Cancelled by the client's departure, or the connection failed under the write.
            failure = new ClientDisconnectedException(ex);
        }
        finally
        {
            // The section closes first, so a worker woken below never waits on it.
            exchange.EndAdapterWork(handOff: false);
            lock (_gate)
            {
                _clientGone ??= failure;
                if (failure is not null)
                {
                    Release(_ahead);
                    Release(_taking);
                    _aheadBytes = 0;
                }

                _draining = false;
                Monitor.PulseAll(_gate);
            }
        }
    }

    private static void Release(List<(byte[] Buffer, int Count)> segments)
    {
        foreach (var (buffer, _) in segments)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        segments.Clear();
    }

    private static bool IsClientGone(FlushResult result, HttpContext context) =>
        result.IsCanceled || result.IsCompleted || context.RequestAborted.IsCancellationRequested;

    private void ThrowIfClientGone()
    {
        if (_clientGone is not null)
        {
            throw new ClientDisconnectedException(_clientGone);
        }
    }
}
