using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;

namespace Adapter;

/// <summary>
/// One framed channel to a worker process (the protocol is in <c>gateway_worker.py</c>): its stdin and stdout, or one
/// of the sockets a threaded worker connects back (<c>--threads</c>). A request holds one channel; a worker process
/// with N channels serves N requests at once, one thread each, and no channel is ever shared.
/// </summary>
internal sealed class PythonWorkerChannel : IDisposable
{
    private const int SmallFrame = 16 * 1024;

    private readonly Stream _toWorker;
    private readonly Stream _fromWorker;
    private readonly Action? _closeInput;
    private readonly byte[] _header = new byte[5];
    private long _waitingSince;
    private bool _held;

    public PythonWorkerChannel(PythonWorkerProcess worker, Stream toWorker, Stream fromWorker, Action? closeInput = null)
    {
        Worker = worker;
        _toWorker = toWorker;

        // Buffered: a frame's header and a small payload (or several small frames) arrive in one read.
        _fromWorker = new BufferedStream(fromWorker, 65536);
        _closeInput = closeInput;
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

    /// <summary>Reads the next frame; null when the worker is gone (EOF or a broken channel).</summary>
    public (byte Kind, byte[] Payload)? Receive()
    {
        // wsgi.errors text does not count as the app making progress: the silence clock runs on across it.
        if (Volatile.Read(ref _waitingSince) == 0)
        {
            Volatile.Write(ref _waitingSince, Stopwatch.GetTimestamp());
        }

        var keepClock = false;
        try
        {
            _fromWorker.ReadExactly(_header);
            var length = BinaryPrimitives.ReadInt32BigEndian(_header.AsSpan(1));
            var payload = length == 0 ? [] : new byte[length];
            _fromWorker.ReadExactly(payload);
            keepClock = _header[0] == (byte)'E';
            return (_header[0], payload);
        }
        catch (Exception ex) when (ex is EndOfStreamException or IOException or ObjectDisposedException)
        {
            return null;
        }
        finally
        {
            if (!keepClock)
            {
                Volatile.Write(ref _waitingSince, 0);
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
        _fromWorker.Dispose();
    }

    private void Send(byte kind, ReadOnlySpan<byte> payload)
    {
        // One write for a small frame, so the worker wakes once for it.
        var frame = ArrayPool<byte>.Shared.Rent(5 + Math.Min(payload.Length, SmallFrame));
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
