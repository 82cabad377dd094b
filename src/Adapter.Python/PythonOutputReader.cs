using System.Diagnostics;
using System.Text;

namespace Adapter;

/// <summary>
/// Reads what Python (or a C library inside it) writes to fd 1 or fd 2, through the pipe the host put there, and
/// hands it to the log one entry per write burst: what arrives with pauses shorter than <see cref="BurstGap"/>
/// is one entry, so a traceback written line by line stays together, and separate writes are separate entries.
/// </summary>
/// <remarks>
/// One read is always outstanding (an asynchronous pipe read: no thread waits on it); a burst ends when that read
/// has not completed within the gap, after <see cref="BurstLimit"/> of continuous output, or at
/// <see cref="MaxEntry"/> bytes. With <c>marked</c>, the stream also carries whole records of Python's logging
/// (<c>\x1e level \x1f logger name \x1f text \n</c>, the text's line feeds as <c>\x1d</c>), each its own entry at
/// its own level and name; raw output around them is entries of the stream's default name and level.
/// </remarks>
internal sealed class PythonOutputReader
{
    private static readonly TimeSpan BurstGap = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan BurstLimit = TimeSpan.FromMilliseconds(500);
    private const int MaxEntry = 64 * 1024;
    private const byte RecordStart = 0x1e;
    private const byte FieldEnd = 0x1f;

    private readonly Stream _pipe;
    private readonly int _level;
    private readonly string _name;
    private readonly bool _marked;
    private readonly Action<int, string, string> _entry;
    private readonly MemoryStream _pending = new();

    private PythonOutputReader(Stream pipe, int level, string name, bool marked, Action<int, string, string> entry)
    {
        _pipe = pipe;
        _level = level;
        _name = name;
        _marked = marked;
        _entry = entry;
    }

    /// <summary>
    /// Starts reading <paramref name="pipe"/> until its end; <paramref name="entry"/> gets (Python's level number,
    /// logger name, text) for each entry. The task ends after the last entry, at the end of the pipe or when the
    /// pipe is disposed.
    /// </summary>
    public static Task Start(Stream pipe, int level, string name, bool marked, Action<int, string, string> entry) =>
        Task.Run(new PythonOutputReader(pipe, level, name, marked, entry).ReadAsync);

    private async Task ReadAsync()
    {
        var buffer = new byte[65536];
        Task<int>? read = null;
        var burstStart = 0L;
        var waitForMore = false;
        while (true)
        {
            read ??= ReadOnceAsync(buffer);
            if (_pending.Length > 0 && !waitForMore)
            {
                var left = BurstLimit - Stopwatch.GetElapsedTime(burstStart);
                var gap = left < BurstGap ? left : BurstGap;
                if (gap <= TimeSpan.Zero || await Task.WhenAny(read, Task.Delay(gap)).ConfigureAwait(false) != read)
                {
                    // The burst is over (or has gone on long enough): log it, keep the read going.
                    waitForMore = !Flush(atEnd: false);
                    continue;
                }
            }

            var count = await read.ConfigureAwait(false);
            read = null;
            if (count == 0)
            {
                Flush(atEnd: true);
                return;
            }

            if (_pending.Length == 0)
            {
                burstStart = Stopwatch.GetTimestamp();
            }

            _pending.Write(buffer, 0, count);
            waitForMore = false;
            if (_pending.Length >= MaxEntry)
            {
                waitForMore = !Flush(atEnd: false);
            }
        }
    }

    /// <summary>The next read; 0 at the end of the pipe, or once it is disposed or broken.</summary>
    private async Task<int> ReadOnceAsync(byte[] buffer)
    {
        try
        {
            return await _pipe.ReadAsync(buffer).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException)
        {
            return 0;
        }
    }

    /// <summary>
    /// Logs what is pending; a marked record whose end has not arrived yet stays pending (false then), unless the
    /// pipe has ended.
    /// </summary>
    private bool Flush(bool atEnd)
    {
        var data = _pending.GetBuffer().AsSpan(0, (int)_pending.Length);
        var done = data.Length;
        var raw = 0;
        if (_marked)
        {
            var position = 0;
            while (position < data.Length && data[position..].IndexOf(RecordStart) is var offset and >= 0)
            {
                var start = position + offset;
                var end = data[start..].IndexOf((byte)'\n');
                if (end < 0 && !atEnd)
                {
                    done = start;
                    break;
                }

                Raw(data[raw..start]);
                var stop = end < 0 ? data.Length : start + end;
                Record(data[(start + 1)..stop]);
                position = raw = Math.Min(stop + 1, data.Length);
            }
        }

        Raw(data[raw..done]);
        var rest = data[done..].ToArray();
        _pending.SetLength(0);
        _pending.Write(rest);
        return rest.Length == 0;
    }

    /// <summary>Raw output: one entry, without its final line break; nothing for blank output.</summary>
    private void Raw(ReadOnlySpan<byte> bytes)
    {
        var text = Encoding.UTF8.GetString(bytes).TrimEnd('\n', '\r');
        if (!string.IsNullOrWhiteSpace(text))
        {
            Emit(_level, _name, text);
        }
    }

    /// <summary>A marked record: level, name and text (its line feeds travel as \x1d); raw output when malformed.</summary>
    private void Record(ReadOnlySpan<byte> bytes)
    {
        var first = bytes.IndexOf(FieldEnd);
        var second = first < 0 ? -1 : bytes[(first + 1)..].IndexOf(FieldEnd);
        if (second < 0 || !int.TryParse(Encoding.ASCII.GetString(bytes[..first]), System.Globalization.CultureInfo.InvariantCulture, out var level))
        {
            Raw(bytes);
            return;
        }

        second += first + 1;
        var name = Encoding.UTF8.GetString(bytes[(first + 1)..second]);
        Emit(level, name, Encoding.UTF8.GetString(bytes[(second + 1)..]).Replace('\x1d', '\n'));
    }

    private void Emit(int level, string name, string text)
    {
        try
        {
            _entry(level, name, text);
        }
        catch (ObjectDisposedException)
        {
            // The host's logger factory is gone (the host stopped): nothing can log this any more.
        }
    }
}
