namespace Adapter;

/// <summary>
/// A request body read ahead to a spool file: the spooled bytes first, then, when spooling stopped at its limit
/// or the disk budget, the rest of the body as it arrives. Forward-only; replaces <c>Request.Body</c>, so
/// <c>wsgi.input</c> and every reader of the request read it as the body.
/// </summary>
internal sealed class SpooledRequestBody(SpoolFile spool, Stream? rest) : Stream
{
    private long _position;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        return Read(buffer.AsSpan(offset, count));
    }

    public override int Read(Span<byte> buffer)
    {
        if (TryReadSpooled(buffer, out var read))
        {
            return read;
        }

        return rest?.Read(buffer) ?? 0;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        // Spooled bytes come from the page cache: read them in place rather than through the thread pool.
        if (TryReadSpooled(buffer.Span, out var read))
        {
            return ValueTask.FromResult(read);
        }

        return rest?.ReadAsync(buffer, cancellationToken) ?? ValueTask.FromResult(0);
    }

    private bool TryReadSpooled(Span<byte> buffer, out int read)
    {
        var left = spool.Length - _position;
        if (left <= 0 || buffer.IsEmpty)
        {
            read = 0;
            return left > 0;
        }

        read = spool.Read(_position, buffer[..(int)Math.Min(buffer.Length, left)]);
        _position += read;
        return true;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
