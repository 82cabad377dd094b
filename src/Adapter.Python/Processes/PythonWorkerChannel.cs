using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Pipelines;

namespace Adapter;

/// <summary>
/// One framed channel to a worker process (the protocol is in <c>gateway_worker.py</c>): its stdin and stdout, or one
/// of the sockets a threaded worker connects back (<c>--threads</c>). A request holds one channel; a worker process
/// with N channels serves N requests at once, one thread each, and no channel is ever shared.
/// </summary>
/// <remarks>
/// Frames from the worker are read through <see cref="Reader"/>: asynchronously by a request on its own flow
/// (<see cref="PythonProcessRequest"/>), or blocking by the start handshake and a request run on a worker thread. The
/// channel's own reader thread fills it: it blocks in the read of the worker's pipe, which the kernel ends the moment
/// bytes arrive, and the request's relay goes on inline on that thread (the pipe's reader scheduler), writing the
/// chunk into Kestrel's response and returning when it awaits. So a response costs one thread wake-up per read, where
/// an asynchronous read of the pipe costs two (the socket engine's thread, then a thread-pool thread). The thread is
/// the channel's, not a request's: it holds no request while the worker works or a client is slow.
/// </remarks>
internal sealed class PythonWorkerChannel : IDisposable
{
    private const int SmallFrame = 16 * 1024;

    /// <summary>A frame's header: its kind byte and its payload's length.</summary>
    public const int HeaderSize = 5;

    // Bytes the reader thread takes ahead of a relay that is waiting on its client, before it stops reading the worker.
    private const int ReadAhead = 1024 * 1024;

    private readonly Stream _toWorker;
    private readonly Stream _fromWorker;
    private readonly Pipe _frames;
    private readonly PipeReader _reader;
    private readonly Action? _closeInput;
    private long _waitingSince;
    private bool _held;

    public PythonWorkerChannel(PythonWorkerProcess worker, Stream toWorker, Stream fromWorker, Action? closeInput = null)
    {
        Worker = worker;
        _toWorker = toWorker;

        _fromWorker = fromWorker;
        _frames = new Pipe(new PipeOptions(
            readerScheduler: PipeScheduler.Inline,
            writerScheduler: PipeScheduler.Inline,
            pauseWriterThreshold: ReadAhead,
            resumeWriterThreshold: ReadAhead / 2,
            minimumSegmentSize: 65536,
            useSynchronizationContext: false));
        _reader = _frames.Reader;
        _closeInput = closeInput;
        new Thread(ReadWorker) { IsBackground = true, Name = $"Python worker {worker.Id} channel reader" }.Start();
    }

    /// <summary>
    /// The channel's reader thread: reads what the worker writes into <see cref="Reader"/> until the worker's end of
    /// the channel closes (or the channel is disposed); a relay waiting for those bytes goes on on this thread.
    /// </summary>
    private void ReadWorker()
    {
        var writer = _frames.Writer;
        try
        {
            while (true)
            {
                // A frame's header and a small payload (or several small frames) arrive in one read.
                var memory = writer.GetMemory(65536);
                var count = _fromWorker.Read(memory.Span);
                if (count == 0)
                {
                    break;
                }

                writer.Advance(count);
                var flush = writer.FlushAsync();
                var result = flush.IsCompleted ? flush.GetAwaiter().GetResult() : flush.AsTask().GetAwaiter().GetResult();
                if (result.IsCompleted)
                {
                    break;
                }
            }

        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException or System.Net.Sockets.SocketException)
        {
            // A broken channel reads as its end: the request that holds it reports the worker gone.
        }

        writer.Complete();
    }

    /// <summary>The frames from the worker, for the request that holds the channel.</summary>
    public PipeReader Reader => _reader;

    /// <summary>Starts the silence clock, if it is not running: the host now waits for the worker.</summary>
    public void StartWaiting()
    {
        if (Volatile.Read(ref _waitingSince) == 0)
        {
            Volatile.Write(ref _waitingSince, Stopwatch.GetTimestamp());
        }
    }

    /// <summary>Stops the silence clock: the worker made progress (wsgi.errors text does not count).</summary>
    public void StopWaiting() => Volatile.Write(ref _waitingSince, 0);

    /// <summary>Ends a pending read of <see cref="Reader"/> early (its result says canceled): the supervisor is killing the worker.</summary>
    public void CancelPendingRead() => _reader.CancelPendingRead();

    /// <summary>Reads a frame's header at the start of <paramref name="buffer"/>; false when fewer than <see cref="HeaderSize"/> bytes are there.</summary>
    public static bool TryReadHeader(in ReadOnlySequence<byte> buffer, out byte kind, out int length)
    {
        if (buffer.Length < HeaderSize)
        {
            kind = 0;
            length = 0;
            return false;
        }

        Span<byte> header = stackalloc byte[HeaderSize];
        buffer.Slice(0, HeaderSize).CopyTo(header);
        kind = header[0];
        length = BinaryPrimitives.ReadInt32BigEndian(header[1..]);
        return true;
    }

    /// <summary>Sends a frame without blocking a thread; false when the worker is gone.</summary>
    public async ValueTask<bool> TrySendAsync(byte kind, ReadOnlyMemory<byte> payload)
    {
        var frame = ArrayPool<byte>.Shared.Rent(HeaderSize + Math.Min(payload.Length, SmallFrame));
        try
        {
            frame[0] = kind;
            BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(1), payload.Length);
            if (payload.Length <= SmallFrame)
            {
                // One write for a small frame, so the worker wakes once for it.
                payload.Span.CopyTo(frame.AsSpan(HeaderSize));
                await _toWorker.WriteAsync(frame.AsMemory(0, HeaderSize + payload.Length)).ConfigureAwait(false);
            }
            else
            {
                await _toWorker.WriteAsync(frame.AsMemory(0, HeaderSize)).ConfigureAwait(false);
                await _toWorker.WriteAsync(payload).ConfigureAwait(false);
            }

            return true;
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException or System.Net.Sockets.SocketException)
        {
            return false;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(frame);
        }
    }

    /// <summary>The process at the other end.</summary>
    public PythonWorkerProcess Worker { get; }

    /// <summary>The worker's process id.</summary>
    public int Id => Worker.Id;

    /// <summary>How the process ended, once it has.</summary>
    public string? ExitDescription => Worker.ExitDescription;

    /// <summary>
    /// A <see cref="Stopwatch"/> timestamp while the host waits for a frame on this channel, 0 otherwise: the
    /// supervisor kills a worker silent for longer than the request timeout.
    /// </summary>
    public long WaitingSince => Volatile.Read(ref _waitingSince);

    /// <summary>True while a request thread or the start handshake reads and writes this channel: only then may it not be disposed.</summary>
    public bool Held
    {
        get => Volatile.Read(ref _held);
        set => Volatile.Write(ref _held, value);
    }

    public void WaitForExit(TimeSpan timeout) => Worker.WaitForExit(timeout);

    public string Tail() => Worker.Tail();

    /// <summary>Sends a frame, false when the worker is gone.</summary>
    public bool TrySend(byte kind, ReadOnlySpan<byte> payload)
    {
        try
        {
            Send(kind, payload);
            return true;
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Reads the next frame, blocking; null when the worker is gone (EOF or a broken channel).</summary>
    public (byte Kind, byte[] Payload)? Receive()
    {
        // wsgi.errors text does not count as the app making progress: the silence clock runs on across it.
        StartWaiting();
        var keepClock = false;
        try
        {
            while (true)
            {
                var pending = _reader.ReadAsync();
                var result = pending.IsCompleted ? pending.GetAwaiter().GetResult() : pending.AsTask().GetAwaiter().GetResult();
                var buffer = result.Buffer;
                if (TryReadHeader(buffer, out var kind, out var length) && buffer.Length - HeaderSize >= length)
                {
                    var payload = length == 0 ? [] : buffer.Slice(HeaderSize, length).ToArray();
                    _reader.AdvanceTo(buffer.GetPosition(HeaderSize + length));
                    keepClock = kind == (byte)'E';
                    return (kind, payload);
                }

                if (result.IsCompleted)
                {
                    _reader.AdvanceTo(buffer.End);
                    return null;
                }

                // Canceled (the supervisor is killing the worker, whose end comes next) or a frame not whole yet.
                _reader.AdvanceTo(buffer.Start, buffer.End);
            }
        }
        catch (Exception ex) when (ex is EndOfStreamException or IOException or ObjectDisposedException or InvalidOperationException or System.Net.Sockets.SocketException)
        {
            return null;
        }
        finally
        {
            if (!keepClock)
            {
                StopWaiting();
            }
        }
    }

    /// <summary>Ends the host's side of the channel: the worker's thread for it ends at EOF, after any request it is in.</summary>
    public void CloseInput()
    {
        try
        {
            if (_closeInput is not null)
            {
                _closeInput();
            }
            else
            {
                _toWorker.Dispose();
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or System.Net.Sockets.SocketException)
        {
            // Already gone.
        }
    }

    public void Dispose()
    {
        CloseInput();
        _toWorker.Dispose();
        _reader.Complete();

        // Ends the reader thread's read, if the worker has not already closed its end.
        _fromWorker.Dispose();
    }

    private void Send(byte kind, ReadOnlySpan<byte> payload)
    {
        // One write for a small frame, so the worker wakes once for it.
        var frame = ArrayPool<byte>.Shared.Rent(HeaderSize + Math.Min(payload.Length, SmallFrame));
        try
        {
            frame[0] = kind;
            BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(1), payload.Length);
            if (payload.Length <= SmallFrame)
            {
                payload.CopyTo(frame.AsSpan(5));
                _toWorker.Write(frame, 0, 5 + payload.Length);
            }
            else
            {
                _toWorker.Write(frame, 0, 5);
                _toWorker.Write(payload);
            }

            _toWorker.Flush();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(frame);
        }
    }
}
