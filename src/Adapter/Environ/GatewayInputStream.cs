using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Http;

namespace Adapter;

/// <summary>
/// <c>wsgi.input</c>: a synchronous, forward-only stream over the request body. It reads Kestrel's body
/// pipe and blocks the worker thread (never a pool thread) until data arrives, so the host's
/// <c>AllowSynchronousIO</c> guard is never involved and the body is never buffered whole.
/// </summary>
internal sealed class GatewayInputStream(GatewayExchange exchange) : Stream
{
    private bool _ended;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException("wsgi.input is not seekable; use CONTENT_LENGTH.");

    public override long Position
    {
        get => throw new NotSupportedException("wsgi.input is not seekable.");
        set => throw new NotSupportedException("wsgi.input is not seekable.");
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        return Read(buffer.AsSpan(offset, count));
    }

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty || _ended)
        {
            return 0;
        }

        exchange.BeginAdapterWork();
        try
        {
            var reader = exchange.Context.Request.BodyReader;
            return Take(reader, Wait(reader), buffer);
        }
        finally
        {
            exchange.EndAdapterWork(handOff: true);
        }
    }

    /// <summary>
    /// A read on the request's own flow (an app in a worker process asked for body bytes): waits for the client
    /// without a thread. The app runs elsewhere, so no adapter section is needed.
    /// </summary>
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty || _ended)
        {
            return 0;
        }

        var reader = exchange.Context.Request.BodyReader;
        ReadResult result;
        try
        {
            result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (Translate(ex) is { } failure)
        {
            throw failure;
        }

        return Take(reader, result, buffer.Span);
    }

    /// <summary>Copies what a read returned into <paramref name="buffer"/> and consumes it; 0 at the body's end.</summary>
    private int Take(PipeReader reader, ReadResult result, Span<byte> buffer)
    {
        var data = result.Buffer;
        if (data.IsEmpty)
        {
            reader.AdvanceTo(data.End);
            if (result.IsCanceled)
            {
                throw new IOException("Reading the request body was canceled.");
            }

            _ended = true;
            return 0;
        }

        var count = (int)Math.Min(buffer.Length, data.Length);
        data.Slice(0, count).CopyTo(buffer);
        reader.AdvanceTo(data.GetPosition(count));
        return count;
    }

    public override int ReadByte()
    {
        Span<byte> one = stackalloc byte[1];
        return Read(one) == 0 ? -1 : one[0];
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        Task.FromResult(Read(buffer, offset, count));

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException("wsgi.input is not seekable.");

    public override void SetLength(long value) => throw new NotSupportedException("wsgi.input is read-only.");

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("wsgi.input is read-only.");

    /// <summary>
    /// Kestrel's 400 for a body that ended before its Content-Length: the client closed its side, which is a
    /// departure (SPEC §3), not a malformed request. Kestrel exposes no reason code, only this message.
    /// </summary>
    internal static bool IsCutShort(Exception ex) =>
        ex is BadHttpRequestException && ex.Message.Contains("Unexpected end of request content", StringComparison.Ordinal);

    /// <summary>
    /// Kestrel reports some framing errors (an overflowing chunk size) as a plain IOException over the arithmetic
    /// error while the client is still there: the client's error, answered 400 (<see cref="Malformed"/>) like any
    /// other malformed body.
    /// </summary>
    internal static bool IsMalformed(IOException ex) => ex is not BadHttpRequestException && ex.InnerException is OverflowException or FormatException;

    internal static BadHttpRequestException Malformed(IOException ex) =>
        new("The request body is malformed: " + ex.Message, StatusCodes.Status400BadRequest, ex);

    private ReadResult Wait(PipeReader reader)
    {
        try
        {
            var pending = reader.ReadAsync();
            return pending.IsCompletedSuccessfully ? pending.Result : pending.AsTask().GetAwaiter().GetResult();
        }
        catch (Exception ex) when (Translate(ex) is { } failure)
        {
            throw failure;
        }
    }

    /// <summary>What a failed body read means to the app: a malformed body (400), or a client that went away; null to let it pass.</summary>
    private Exception? Translate(Exception ex)
    {
        if (ex is IOException io && IsMalformed(io))
        {
            return Malformed(io);
        }

        if (ex is OperationCanceledException || (ex is IOException and not BadHttpRequestException) || IsCutShort(ex))
        {
            // The client went away mid-body (a reset, an abort, a transport error; Kestrel cancels the request's
            // token only a moment later): a cut-short body must never look complete.
            exchange.ClientLeft = true;
            return new ClientDisconnectedException("The request body was cut short: the client went away.", ex);
        }

        return null;
    }
}
