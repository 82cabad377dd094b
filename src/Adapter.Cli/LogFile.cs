using System.Text;

namespace Adapter.Cli;

/// <summary>
/// A log file the command writes (<c>--access-logfile FILE</c>): appended to one line at a time, and reopened by
/// <see cref="Reopen"/> on SIGUSR1, so that logrotate's <c>postrotate kill -USR1</c> moves the writes to a fresh file at
/// the same path, as gunicorn does. Every <see cref="LogFile"/> in the container is reopened by <see cref="GatewaySignals"/>.
/// </summary>
internal sealed class LogFile : TextWriter
{
    private readonly Lock _lock = new();
    private StreamWriter _writer;

    private LogFile(string path)
    {
        Path = path;
        _writer = Open(path);
    }

    /// <summary>The full path, reopened by name.</summary>
    public string Path { get; }

    public override Encoding Encoding => Encoding.UTF8;

    /// <summary>Opens <paramref name="path"/> for appending.</summary>
    /// <exception cref="IOException">It cannot be opened.</exception>
    /// <exception cref="UnauthorizedAccessException">It may not be written.</exception>
    public static LogFile Create(string path) => new(path);

    public override void Write(char value)
    {
        lock (_lock)
        {
            _writer.Write(value);
        }
    }

    public override void Write(string? value)
    {
        lock (_lock)
        {
            _writer.Write(value);
        }
    }

    /// <summary>One whole line, never interleaved with another writer's.</summary>
    public override void WriteLine(string? value)
    {
        lock (_lock)
        {
            _writer.WriteLine(value);
        }
    }

    public override void Flush()
    {
        lock (_lock)
        {
            _writer.Flush();
        }
    }

    /// <summary>Closes the file and opens the path again (a new file when logrotate moved the old one away).</summary>
    /// <exception cref="IOException">The path cannot be opened now; the old file is kept.</exception>
    /// <exception cref="UnauthorizedAccessException">The path may not be written now; the old file is kept.</exception>
    public void Reopen()
    {
        var fresh = Open(Path);
        StreamWriter old;
        lock (_lock)
        {
            old = _writer;
            _writer = fresh;
        }

        old.Dispose();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            lock (_lock)
            {
                _writer.Dispose();
            }
        }

        base.Dispose(disposing);
    }

    // Shared, so logrotate's copytruncate works too; written through at once, so a line is in the file when logged.
    private static StreamWriter Open(string path) =>
        new(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete)) { AutoFlush = true };
}
