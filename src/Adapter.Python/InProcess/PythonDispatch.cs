using Python.Runtime;

namespace Adapter;

/// <summary>
/// The one .NET object the bridge calls into, by request id: one object for the process saves wrapping a
/// new .NET object for Python on every request.
/// </summary>
/// <remarks>
/// Public members are what Python binds to; the type itself stays internal. pythonnet lets go of the GIL
/// around every .NET method Python calls, so a socket write or a body read here never holds up other
/// requests' Python. The bytes and bytearray objects passed in are read and filled without the GIL: the
/// Python frame waiting on the call keeps them alive, and nothing else in Python can reach them meanwhile.
/// </remarks>
internal sealed class PythonDispatch
{
    public static readonly PythonDispatch Instance = new();

    /// <summary>write(data), with the status and headers first when .NET has not seen them yet.</summary>
    public void Write(long id, string? head, PyObject data)
    {
        var call = PythonCall.Find(id);
        if (head is not null)
        {
            call.Deliver(head);
        }

#pragma warning disable CS0612 // Handle: the raw pointer, to copy the bytes without marshalling each one.
        call.Write(PythonNative.CopyBytes(data.Handle));
#pragma warning restore CS0612
    }

    /// <summary>
    /// Reads the request body into a Python bytearray; 0 at its end, -1 when the body failed (too large, malformed,
    /// cut short): the bridge then raises OSError with <see cref="InputFailure"/>, and the adapter answers as that
    /// failure does (413, 400, a client gone) rather than as an app error.
    /// </summary>
    public int ReadInto(long id, PyObject buffer)
    {
#pragma warning disable CS0612
        var (pointer, length) = PythonNative.ByteArrayStorage(buffer.Handle);
#pragma warning restore CS0612
        return PythonCall.Find(id).ReadInput(PythonNative.AsSpan(pointer, length));
    }

    /// <summary>Why the request body failed, for the OSError raised in the app.</summary>
    public string InputFailure(long id) =>
        PythonCall.Find(id).InputFailure?.SourceException.Message ?? "the request body failed";

    /// <summary>Where Python's log records and output go (set by the gateway that started CPython).</summary>
    public Microsoft.Extensions.Logging.ILoggerFactory? Loggers { get; set; }

    /// <summary>A logging record, or a line of print() or sys.stderr output.</summary>
    public void Log(int level, string name, string text)
    {
        if (Loggers is { } loggers)
        {
            try
            {
                PythonLogging.Write(loggers, level, name, text);
            }
            catch (ObjectDisposedException)
            {
                // The host that set Loggers has stopped while another in the process still serves (tests start
                // several): its factory refuses new loggers. The line is lost, not turned into a failed request.
            }
        }
    }

    /// <summary>wsgi.errors.write(text).</summary>
    public void Error(long id, string text) => PythonCall.Find(id).Error(text);
}
