using System.Buffers.Binary;
using System.Collections;

namespace Adapter;

/// <summary>
/// One request's response as it comes from a worker process: status and headers, body chunks, reads of the
/// request body and wsgi.errors text, read frame by frame on the gateway worker thread. The pipe's own buffer
/// is the back-pressure: the worker blocks writing while the adapter waits on a slow client.
/// </summary>
/// <remarks>
/// The worker goes back to the supervisor once the response has ended on both sides (a Z or X frame read). A
/// response the adapter abandons (the client left) is stopped: the worker is told to close the app's iterable,
/// and what it still sends is read and dropped, so the next request finds the channel in step.
/// </remarks>
internal sealed class PythonProcessBody(PythonWorkerSupervisor supervisor, PythonWorkerChannel worker, PythonCall call, string target)
    : IEnumerable<byte[]>, IEnumerator<byte[]>
{
    private const int MaxRead = 1024 * 1024;

    private byte[] _current = [];
    private byte[]? _prefetched;
    private bool _released;

    // What the iterable's close() raised after the body went out (a C frame): thrown by Dispose, so the adapter
    // logs it as any failed close and the response still completes.
    private string? _closeFailure;

    public byte[] Current => _current;

    object IEnumerator.Current => _current;

    public IEnumerator<byte[]> GetEnumerator() => this;

    IEnumerator IEnumerable.GetEnumerator() => this;

    /// <summary>Reads up to the first chunk: the iterable, a file to send by path, or an empty body.</summary>
    public IEnumerable<byte[]> Begin()
    {
        var (kind, payload) = Next();
        switch (kind)
        {
            case (byte)'B':
                _prefetched = payload;
                return this;
            case (byte)'F':
                var file = PythonProcessRequest.OpenFile(new System.Buffers.ReadOnlySequence<byte>(payload));

                // Open now: the worker may close (and so delete) a temporary file.
                worker.TrySend((byte)'A', []);
                try
                {
                    // The worker closes the app's iterable right after it names the file.
                    if (Next().Kind == (byte)'B')
                    {
                        throw new InvalidOperationException("The Python worker process sent a body chunk after a file.");
                    }
                }
                catch
                {
                    file.Dispose();
                    throw;
                }

                return FileWrapperBody.Wrapper(file, 65536);
            default:
                return [];
        }
    }

    public bool MoveNext()
    {
        if (_prefetched is { } first)
        {
            _prefetched = null;
            _current = first;
            return true;
        }

        if (_released)
        {
            return false;
        }

        var (kind, payload) = Next();
        if (kind == (byte)'F')
        {
            // The worker sends a file only as the whole body; after chunks it would be lost, so say so.
            throw new InvalidOperationException("The Python worker process sent a file after body chunks.");
        }

        if (kind != (byte)'B')
        {
            return false;
        }

        _current = payload;
        return true;
    }

    /// <summary>The next B, F or Z frame (H, I, E and C are handled on the way); throws for X and for a worker that died.</summary>
    private (byte Kind, byte[] Payload) Next()
    {
        while (true)
        {
            if (worker.Receive() is not { } frame)
            {
                // The exit first, then the release: the supervisor then sees a process that ended, and counts a crash.
                worker.WaitForExit(TimeSpan.FromSeconds(1));
                var failure = new GatewayUpstreamException(
                    $"The Python worker process {worker.Id} running '{target}' ended during the request ({worker.ExitDescription ?? "the channel broke"}). Its last output:\n{worker.Tail()}");
                Release(reusable: false);
                throw failure;
            }

            switch (frame.Kind)
            {
                case (byte)'H':
                    call.Deliver(PythonWorkerProcess.Text(frame.Payload));
                    break;
                case (byte)'I':
                    ServeRead(frame.Payload);
                    break;
                case (byte)'E':
                    call.Error(PythonWorkerProcess.Text(frame.Payload));
                    break;
                case (byte)'C':
                    _closeFailure = PythonWorkerProcess.Text(frame.Payload);
                    break;
                case (byte)'X':
                    Release(reusable: true);

                    // An app that failed because the request body failed answers as that failure does (400, 413, a client gone).
                    call.InputFailure?.Throw();
                    throw new PythonAppException($"The Python app '{target}' raised {PythonWorkerProcess.Text(frame.Payload)}");
                case (byte)'Z':
                    // A byte in Z: the worker ends after this response (it got a SIGTERM), so it is not reused.
                    Release(reusable: frame.Payload.Length == 0);
                    return frame;
                default:
                    return frame;
            }
        }
    }

    private void ServeRead(byte[] request)
    {
        var buffer = call.Input is null ? [] : new byte[Math.Clamp(BinaryPrimitives.ReadInt32BigEndian(request), 1, MaxRead)];
        var count = call.ReadInput(buffer);
        if (count < 0)
        {
            worker.TrySend((byte)'Y', System.Text.Encoding.UTF8.GetBytes($"reading the request body failed: {call.InputFailure!.SourceException.Message}"));
            return;
        }

        worker.TrySend((byte)'D', buffer.AsSpan(0, count));
    }

    private void Release(bool reusable)
    {
        if (!_released)
        {
            _released = true;
            supervisor.Release(worker, reusable);
        }
    }

    public void Reset() => throw new NotSupportedException();

    /// <summary>Ends the response early if the adapter stopped reading it: the worker closes the iterable, and is freed.</summary>
    public void Dispose()
    {
        if (_released)
        {
            if (_closeFailure is { } failure)
            {
                _closeFailure = null;
                throw PythonAppException.FromClose(failure, target);
            }

            return;
        }

        // The app stops at its next chunk or write; one that is stuck meanwhile is killed by the supervisor once
        // silent past the request timeout, which ends this wait too.
        worker.TrySend((byte)'S', []);
        while (worker.Receive() is { } frame)
        {
            switch (frame.Kind)
            {
                case (byte)'I':
                    worker.TrySend((byte)'S', []);
                    break;
                case (byte)'Z':
                    Release(reusable: frame.Payload.Length == 0);
                    return;
                case (byte)'X':
                    Release(reusable: true);
                    return;
            }
        }

        Release(reusable: false);
    }
}
