using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Runtime.ExceptionServices;

namespace Adapter;

/// <summary>
/// One request to a worker process, run on the request's own flow: no thread is held while the worker works or the
/// client is slow. Frames are read from the channel's <see cref="PipeReader"/>; a body chunk goes from the pipe's
/// buffer straight into the response (<see cref="GatewayResponse.WriteChunkAsync"/>), whose flush is the
/// back-pressure, and a read of the request body is answered from <see cref="GatewayExchange.Input"/>.
/// </summary>
/// <remarks>
/// The channel goes back to the supervisor once the response has ended on both sides (a Z or X frame read). A
/// response the host abandons (the client left, a bad status line) is stopped: the worker is told to close the
/// app's iterable, and what it still sends is read and dropped, so the next request finds the channel in step.
/// </remarks>
internal sealed class PythonProcessRequest(PythonWorkerSupervisor supervisor, PythonWorkerChannel channel, GatewayExchange exchange, string target)
{
    private const int MaxRead = 1024 * 1024;

    private readonly PythonCall _call = new(exchange.Response.StartResponse, exchange.Input, exchange.Errors);
    private bool _released;
    private FileStream? _file;

    // Bytes of the body chunk being read that are still to come.
    private int _bodyLeft;

    /// <summary>Sends the request frame and relays the response until the worker ends it.</summary>
    public async Task RunAsync(ReadOnlyMemory<byte> request)
    {
        try
        {
            if (!await channel.TrySendAsync((byte)'R', request).ConfigureAwait(false))
            {
                await ChannelEndedAsync("could not be sent the request").ConfigureAwait(false);
            }

            await RelayAsync(discard: false).ConfigureAwait(false);
            if (_file is { } file)
            {
                await SendFileAsync(file).ConfigureAwait(false);
            }
        }
        catch (Exception failure) when (!_released && failure is not RequestTimedOutException)
        {
            await StopAsync().ConfigureAwait(false);
            throw;
        }
        finally
        {
            _file?.Dispose();
        }
    }

    /// <summary>
    /// Reads frames until the response ends (Z, or X which throws). With <paramref name="discard"/>, after the host
    /// asked the worker to stop: body bytes are dropped and reads refused.
    /// </summary>
    /// <remarks>
    /// The channel goes back to the supervisor only after the reader has been advanced past the last frame: from
    /// the release on, the next request may read it.
    /// </remarks>
    private async Task RelayAsync(bool discard)
    {
        var reader = channel.Reader;
        while (true)
        {
            channel.StartWaiting();
            var result = await reader.ReadAsync().ConfigureAwait(false);
            var buffer = result.Buffer;
            Ending? ending = null;

            // Set only when the loop stopped for want of bytes: then the next read waits for more.
            var wantMore = false;
            try
            {
                if (result.IsCanceled && KilledInRequest)
                {
                    ending = new Ending(Reusable: false, discard ? null : ExceptionDispatchInfo.Capture(new RequestTimedOutException()));
                }

                while (ending is null)
                {
                    if (_bodyLeft > 0)
                    {
                        if (buffer.IsEmpty)
                        {
                            wantMore = true;
                            break;
                        }

                        // Consumed before it is written: a write that fails leaves the rest of the chunk to be read (and dropped) in step.
                        channel.StopWaiting();
                        var piece = buffer.Slice(0, Math.Min(_bodyLeft, buffer.Length));
                        _bodyLeft -= (int)piece.Length;
                        buffer = buffer.Slice(piece.End);
                        if (!discard)
                        {
                            await WriteAsync(piece).ConfigureAwait(false);
                        }

                        continue;
                    }

                    if (!PythonWorkerChannel.TryReadHeader(buffer, out var kind, out var length))
                    {
                        wantMore = true;
                        break;
                    }

                    if (kind == (byte)'B')
                    {
                        // Relayed as it arrives: a large chunk never waits whole in the host.
                        buffer = buffer.Slice(PythonWorkerChannel.HeaderSize);
                        _bodyLeft = length;
                        channel.StopWaiting();
                        continue;
                    }

                    if (buffer.Length - PythonWorkerChannel.HeaderSize < length)
                    {
                        wantMore = true;
                        break;
                    }

                    var payload = buffer.Slice(PythonWorkerChannel.HeaderSize, length);
                    buffer = buffer.Slice(payload.End);
                    if (kind != (byte)'E')
                    {
                        channel.StopWaiting();
                    }

                    ending = await HandleAsync(kind, payload, discard).ConfigureAwait(false);
                }

                if (ending is null && wantMore && result.IsCompleted)
                {
                    ending = new Ending(Reusable: false, null, ChannelEnded: true);
                }
            }
            finally
            {
                // Whatever happened, the reader is left in step: what was handled is consumed, the rest stays for the next
                // read, which returns it at once unless it is only the start of a frame (a failed write may leave whole
                // frames behind, a Z among them, that the drain must see).
                reader.AdvanceTo(buffer.Start, wantMore ? buffer.End : buffer.Start);
            }

            if (ending is { } end)
            {
                if (end.ChannelEnded && !discard)
                {
                    await ChannelEndedAsync("ended during the request").ConfigureAwait(false);
                }

                Release(end.Reusable);
                end.Failure?.Throw();
                return;
            }
        }
    }

    private async ValueTask WriteAsync(ReadOnlySequence<byte> piece)
    {
        if (_file is not null)
        {
            // The worker sends a file only as the whole body; after it, chunks would be lost, so say so.
            throw new InvalidOperationException("The Python worker process sent a body chunk after a file.");
        }

        foreach (var segment in piece)
        {
            await exchange.Response.WriteChunkAsync(segment).ConfigureAwait(false);
        }
    }

    /// <summary>Handles a whole frame other than B; how the response ended once it has (Z or X), else null.</summary>
    private async ValueTask<Ending?> HandleAsync(byte kind, ReadOnlySequence<byte> payload, bool discard)
    {
        switch (kind)
        {
            case (byte)'Z':
                // A byte in Z: the worker ends after this response (it got a SIGTERM), so it is not reused.
                return new Ending(Reusable: payload.IsEmpty, null);
            case (byte)'X':
                // An app that failed because the request body failed answers as that failure does (400, 413, a client gone).
                return new Ending(Reusable: true, discard ? null
                    : _call.InputFailure ?? ExceptionDispatchInfo.Capture(new PythonAppException($"The Python app '{target}' raised {Text(payload)}")));
            case (byte)'I':
                if (discard)
                {
                    await channel.TrySendAsync((byte)'S', default).ConfigureAwait(false);
                }
                else
                {
                    await ServeReadAsync(payload).ConfigureAwait(false);
                }

                return null;
            case (byte)'E':
                _call.Error(Text(payload));
                return null;
        }

        if (discard)
        {
            return null;
        }

        switch (kind)
        {
            case (byte)'H':
                _call.Deliver(Text(payload));
                break;
            case (byte)'C':
                // close() raised after the body went out: logged as any failed close, and the response completes.
                GatewayLog.DisposeFailed(exchange.Logger, exchange.Method, exchange.LogPath, PythonAppException.FromClose(Text(payload), target));
                break;
            case (byte)'F':
                _file = OpenFile(payload);

                // Open now: the worker may close (and so delete) a temporary file once it hears back.
                await channel.TrySendAsync((byte)'A', default).ConfigureAwait(false);
                break;
        }

        return null;
    }

    private async Task ServeReadAsync(ReadOnlySequence<byte> request)
    {
        Span<byte> size = stackalloc byte[4];
        request.Slice(0, Math.Min(4, request.Length)).CopyTo(size);
        var wanted = Math.Clamp(BinaryPrimitives.ReadInt32BigEndian(size), 1, MaxRead);
        var buffer = ArrayPool<byte>.Shared.Rent(wanted);
        try
        {
            var count = await _call.ReadInputAsync(buffer.AsMemory(0, wanted)).ConfigureAwait(false);
            if (count < 0)
            {
                await channel.TrySendAsync((byte)'Y', System.Text.Encoding.UTF8.GetBytes($"reading the request body failed: {_call.InputFailure!.SourceException.Message}")).ConfigureAwait(false);
                return;
            }

            await channel.TrySendAsync((byte)'D', buffer.AsMemory(0, count)).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The body the worker named by path, once the worker has ended the response: sent by the server, or streamed.</summary>
    private async Task SendFileAsync(FileStream file)
    {
        if (GatewayResponse.CanSendFile(file))
        {
            await exchange.Response.SendFileAsync(file).ConfigureAwait(false);
            return;
        }

        var buffer = ArrayPool<byte>.Shared.Rent(65536);
        try
        {
            int read;
            while ((read = await file.ReadAsync(buffer.AsMemory(0, 65536)).ConfigureAwait(false)) > 0)
            {
                await exchange.Response.WriteChunkAsync(buffer.AsMemory(0, read)).ConfigureAwait(false);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The channel ended under the request: the worker died (or was killed for the timeout). Always throws.</summary>
    private async Task ChannelEndedAsync(string what)
    {
        var worker = channel.Worker;

        // The exit first, then the release: the supervisor then sees a process that ended, and counts a crash.
        await worker.WaitForExitAsync(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
        Release(reusable: false);
        if (KilledInRequest)
        {
            throw new RequestTimedOutException();
        }

        throw new GatewayUpstreamException(
            $"The Python worker process {worker.Id} running '{target}' {what} ({worker.ExitDescription ?? "the channel broke"}). Its last output:\n{worker.Tail()}");
    }

    /// <summary>Ends the response early: the worker closes the app's iterable at its next chunk or write, and the channel comes back in step.</summary>
    private async Task StopAsync()
    {
        try
        {
            // One that is stuck meanwhile is killed by the supervisor once silent past the request timeout, which ends this wait too.
            await channel.TrySendAsync((byte)'S', default).ConfigureAwait(false);
            await RelayAsync(discard: true).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
            Release(reusable: false);
        }
    }

    /// <summary>True when the supervisor killed the worker in this request: for the request timeout, or at the host's shutdown timeout.</summary>
    private bool KilledInRequest => channel.Worker.StopReason is PythonWorkerSupervisor.TimeoutReason or PythonWorkerSupervisor.ShutdownReason;

    private void Release(bool reusable)
    {
        if (!_released)
        {
            _released = true;
            supervisor.Release(channel, reusable);
        }
    }

    /// <summary>How a response ended: whether the channel is in step for another request, and what the request then throws.</summary>
    private readonly record struct Ending(bool Reusable, ExceptionDispatchInfo? Failure, bool ChannelEnded = false);

    /// <summary>Opens the file an F frame names (u64 offset, path), at its offset; both relays use it.</summary>
    internal static FileStream OpenFile(ReadOnlySequence<byte> payload)
    {
        Span<byte> head = stackalloc byte[8];
        payload.Slice(0, 8).CopyTo(head);
        var offset = (long)BinaryPrimitives.ReadUInt64BigEndian(head);
        var path = Text(payload.Slice(8));
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 1);
        file.Seek(offset, SeekOrigin.Begin);
        return file;
    }

    private static string Text(ReadOnlySequence<byte> payload) => System.Text.EncodingExtensions.GetString(System.Text.Encoding.UTF8, payload);
}
