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

    // Created when a flush is first left pending: a response Kestrel keeps up with allocates none of them.
    private object? _gate;
    private List<(byte[] Buffer, int Count)>? _ahead;
    private List<(byte[] Buffer, int Count)>? _taking;
    private int _aheadBytes;
    private bool _draining;
    private Exception? _clientGone;

    /// <summary>Sends <paramref name="data"/>; on the worker thread, inside an adapter section. Throws when the client left.</summary>
    public void Send(ReadOnlySpan<byte> data)
    {
        // Only the worker starts a drain, so a drain seen ended stays ended until this call starts another.
        if (Volatile.Read(ref _draining) && TryQueue(data))
        {
            return;
        }

        ThrowIfClientGone();
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
            throw ClientGoneOnWorker(ex);
        }

        if (!flush.IsCompleted)
        {
            StartDrain(flush);
            return;
        }

        FlushResult result;
        try
        {
            result = flush.Result;
        }
        catch (OperationCanceledException ex)
        {
            throw ClientGoneOnWorker(ex);
        }

        if (IsClientGone(result, context))
        {
            throw ClientGoneOnWorker();
        }
    }

    /// <summary>Blocks until every queued byte is in Kestrel's pipe and flushed; throws when the client left.</summary>
    public void WaitForDrain()
    {
        Settle();
        ThrowIfClientGone();
    }

    /// <summary>Blocks until the drain loop is done, whether or not the client is still there.</summary>
    public void Settle()
    {
        if (!Volatile.Read(ref _draining))
        {
            return;
        }

        lock (_gate!)
        {
            while (_draining)
            {
                Monitor.Wait(_gate);
            }
        }
    }

    /// <summary>Queues a copy while a drain runs; false when the drain ended meanwhile and the worker owns the pipe again.</summary>
    private bool TryQueue(ReadOnlySpan<byte> data)
    {
        lock (_gate!)
        {
            while (_draining && _clientGone is null && _aheadBytes > 0 && _aheadBytes + data.Length > AheadLimit)
            {
                Monitor.Wait(_gate);
            }

            if (!_draining || _clientGone is not null)
            {
                return false;
            }

            Queue(data);
            return true;
        }
    }

    private void StartDrain(ValueTask<FlushResult> flush)
    {
        _gate ??= new object();
        _ahead ??= [];
        _taking ??= [];
        Volatile.Write(ref _draining, true);

        // The drain touches the response after this section ends, so it holds a section of its own:
        // the request cannot time out, and the worker cannot finish, while bytes are still moving.
        exchange.BeginAdapterWork();
        _ = DrainAsync(flush);
    }

    private void Queue(ReadOnlySpan<byte> data)
    {
        // Small chunks share a segment, so a flood of tiny writes costs neither a rental nor a flush each.
        var ahead = _ahead!;
        if (ahead.Count > 0)
        {
            var (last, used) = ahead[^1];
            if (last.Length - used >= data.Length)
            {
                data.CopyTo(last.AsSpan(used));
                ahead[^1] = (last, used + data.Length);
                _aheadBytes += data.Length;
                return;
            }
        }

        var segment = ArrayPool<byte>.Shared.Rent(Math.Max(SegmentSize, data.Length));
        data.CopyTo(segment);
        ahead.Add((segment, data.Length));
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
                    failure = ClientGone();
                    return;
                }

                lock (_gate!)
                {
                    if (_ahead!.Count == 0)
                    {
                        return;
                    }

                    (_ahead, _taking) = (_taking, _ahead);
                    _aheadBytes = 0;
                    Monitor.PulseAll(_gate);
                }

                foreach (var (buffer, count) in _taking!)
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
            failure = ClientGone(ex);
        }
        finally
        {
            // The section closes first, so a worker woken below never waits on it.
            exchange.EndAdapterWork(handOff: false);
            lock (_gate!)
            {
                _clientGone ??= failure;
                if (failure is not null)
                {
                    Release(_ahead!);
                    Release(_taking!);
                    _aheadBytes = 0;
                }

                Volatile.Write(ref _draining, false);
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

    /// <summary>The connection failed under a write: the request is aborted, so Kestrel cancels its token.</summary>
    private ClientDisconnectedException ClientGone(Exception? inner = null)
    {
        exchange.Context.Abort();
        return new ClientDisconnectedException(inner);
    }

    /// <summary>On the worker: aborts the request; returns once its <see cref="HttpContext.RequestAborted"/> token is canceled.</summary>
    private ClientDisconnectedException ClientGoneOnWorker(Exception? inner = null)
    {
        var gone = ClientGone(inner);
        WaitForAbortedToken();
        return gone;
    }

    /// <summary>
    /// Kestrel cancels <see cref="HttpContext.RequestAborted"/> from the thread pool, a moment after the abort:
    /// the app that catches the exception must already see the token canceled. The wait is bounded.
    /// </summary>
    private void WaitForAbortedToken()
    {
        var aborted = exchange.Context.RequestAborted;
        if (!aborted.IsCancellationRequested)
        {
            aborted.WaitHandle.WaitOne(TimeSpan.FromSeconds(1));
        }
    }

    private void ThrowIfClientGone()
    {
        if (Volatile.Read(ref _clientGone) is { } gone)
        {
            WaitForAbortedToken();
            throw new ClientDisconnectedException(gone);
        }
    }
}
