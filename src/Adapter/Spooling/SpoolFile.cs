using Microsoft.Win32.SafeHandles;

namespace Adapter;

/// <summary>
/// One response's or request body's spool: bytes appended at the end, read back by offset, at most
/// <c>limit</c> bytes, counted in the pool's <see cref="SpoolBudget"/> until the file is disposed. The file is
/// made on the first append. Safe to use from two threads (one appending, one reading) and to dispose from a
/// third: a use after disposal appends nothing and reads throw.
/// </summary>
internal sealed class SpoolFile(SpoolBudget budget, long limit) : IDisposable
{
    private readonly Lock _lock = new();
    private SafeFileHandle? _handle;
    private long _length;
    private bool _closed;

    /// <summary>Bytes appended so far.</summary>
    public long Length => Volatile.Read(ref _length);

    /// <summary>The failure that stopped spooling (a full disk), if any: later appends are refused.</summary>
    public Exception? Failure { get; private set; }

    /// <summary>Appends <paramref name="data"/>: its offset in the file, or -1 when the limit, the budget or the disk has no room.</summary>
    public long TryAppend(ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            if (_closed || Failure is not null || _length + data.Length > limit || !budget.TryReserve(data.Length))
            {
                return -1;
            }

            try
            {
                _handle ??= budget.Open();
                RandomAccess.Write(_handle, data, _length);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                budget.Release(data.Length);
                Failure = ex;
                return -1;
            }

            var at = _length;
            Volatile.Write(ref _length, at + data.Length);
            return at;
        }
    }

    /// <summary>Reads spooled bytes from <paramref name="offset"/>; they must have been appended.</summary>
    public int Read(long offset, Span<byte> into)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            var read = RandomAccess.Read(_handle!, into, offset);
            if (read == 0 && !into.IsEmpty)
            {
                throw new IOException($"The spool file ended at {offset} of {_length} bytes.");
            }

            return read;
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_closed)
            {
                return;
            }

            _closed = true;
            if (_handle is not null)
            {
                _handle.Dispose();
                budget.Closed();
            }

            budget.Release(_length);
        }
    }
}
