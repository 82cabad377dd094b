using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Adapter;

/// <summary>
/// The .NET side the bridge calls, as C-level functions on one namespace object (<c>dispatch</c> in
/// <c>adapter_bridge.py</c>): <c>ReadInto</c>, <c>InputFailure</c>, <c>Error</c> by request id, and
/// <c>Log</c>. Each is called with the GIL held and lets go of it exactly where it may block (the body read, the
/// logger), so a slow client never holds up other requests' Python.
/// </summary>
/// <remarks>
/// A .NET failure inside one of them is raised in Python (<c>OSError</c>), never let through CPython's frames; a
/// failed body read is kept on the request (<see cref="PythonCall.InputFailure"/>) and decides its outcome.
/// </remarks>
internal static unsafe class PythonDispatch
{
    /// <summary>Where Python's log records and output go (set by the gateway that started CPython).</summary>
    public static ILoggerFactory? Loggers { get; set; }

    /// <summary>The namespace object handed to the bridge's <c>attach</c>; a new reference.</summary>
    public static nint Create()
    {
        var types = CPython.Import("types");
        if (types == 0)
        {
            throw PythonError.Fetch();
        }

        var namespaceType = CPython.GetAttr(types, "SimpleNamespace\0"u8);
        CPython.DecRef(types);
        if (namespaceType == 0)
        {
            throw PythonError.Fetch();
        }

        var dispatch = CPython.Call(namespaceType, []);
        CPython.DecRef(namespaceType);
        if (dispatch == 0)
        {
            throw PythonError.Fetch();
        }

        Add(dispatch, "ReadInto", &ReadInto);
        Add(dispatch, "InputFailure", &InputFailure);
        Add(dispatch, "Error", &Error);
        Add(dispatch, "Log", &LogRecord);
        return dispatch;
    }

    private static void Add(nint dispatch, string name, delegate* unmanaged<nint, nint*, nint, nint> function)
    {
        var item = CPython.NewFunction(CPython.Define(name, function));
        var attribute = System.Text.Encoding.UTF8.GetBytes(name + "\0");
        if (item == 0 || !CPython.SetAttr(dispatch, attribute, item))
        {
            CPython.DecRef(item);
            throw PythonError.Fetch();
        }

        CPython.DecRef(item);
    }

    /// <summary>
    /// ReadInto(id, bytearray): reads the request body into it, without the GIL; 0 at its end, -1 when the body failed
    /// (too large, malformed, cut short): the bridge then raises OSError with <see cref="InputFailure"/>.
    /// </summary>
    /// <remarks>
    /// The bytearray is the bridge's own, fresh for the read and reachable by no other Python code, so it is neither
    /// resized nor freed while the GIL is let go.
    /// </remarks>
    [UnmanagedCallersOnly]
    private static nint ReadInto(nint self, nint* args, nint count)
    {
        try
        {
            Expect(count, 2);
            var call = Find(args[0]);
            var buffer = CPython.ByteArraySpan(args[1]);
            fixed (byte* start = buffer)
            {
                var (pointer, length) = ((nint)start, buffer.Length);
                var state = CPython.SaveThread();
                int read;
                try
                {
                    read = call.ReadInput(new Span<byte>((void*)pointer, length));
                }
                finally
                {
                    CPython.RestoreThread(state);
                }

                return CPython.Int(read);
            }
        }
        catch (Exception ex)
        {
            return Raise(ex);
        }
    }

    /// <summary>InputFailure(id): why the request body failed, for the OSError raised in the app.</summary>
    [UnmanagedCallersOnly]
    private static nint InputFailure(nint self, nint* args, nint count)
    {
        try
        {
            Expect(count, 1);
            var call = Find(args[0]);
            return CPython.Str(call.InputFailure?.SourceException.Message ?? "the request body failed");
        }
        catch (Exception ex)
        {
            return Raise(ex);
        }
    }

    /// <summary>Error(id, text): wsgi.errors text, one write (a traceback, say) one log entry.</summary>
    [UnmanagedCallersOnly]
    private static nint Error(nint self, nint* args, nint count)
    {
        try
        {
            Expect(count, 2);
            var call = Find(args[0]);
            var text = CPython.ToText(args[1]);
            WithoutGil((call, text), static s => s.call.Error(s.text));
            return NewNone();
        }
        catch (Exception ex)
        {
            return Raise(ex);
        }
    }

    /// <summary>Log(level, name, text): a logging record, from any Python thread.</summary>
    [UnmanagedCallersOnly]
    private static nint LogRecord(nint self, nint* args, nint count)
    {
        try
        {
            Expect(count, 3);
            var level = (int)CPython.AsLong(args[0]);
            var name = CPython.ToText(args[1]);
            var text = CPython.ToText(args[2]);
            WithoutGil((level, name, text), static s => Log(s.level, s.name, s.text));
            return NewNone();
        }
        catch (Exception ex)
        {
            return Raise(ex);
        }
    }

    /// <summary>A logging record, or a burst of the process's stdout or stderr.</summary>
    public static void Log(int level, string name, string text)
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

    private static void Expect(nint count, int expected)
    {
        if (count != expected)
        {
            throw new ArgumentException($"expected {expected} arguments, got {count}");
        }
    }

    /// <summary>The request registered under the id <paramref name="id"/> (a Python int).</summary>
    internal static PythonCall Find(nint id)
    {
        var value = CPython.AsLong(id);
        return value == -1 && CPython.ErrorOccurred() ? throw PythonError.Fetch() : PythonCall.Find(value);
    }

    /// <summary>Runs <paramref name="action"/> with the GIL let go (the calling thread holds it, and has it again after).</summary>
    public static void WithoutGil<T>(T state, Action<T> action)
    {
        var saved = CPython.SaveThread();
        try
        {
            action(state);
        }
        finally
        {
            CPython.RestoreThread(saved);
        }
    }

    private static nint NewNone()
    {
        CPython.IncRef(CPython.None);
        return CPython.None;
    }

    /// <summary>Raises <paramref name="failure"/> in Python (the GIL is held).</summary>
    private static nint Raise(Exception failure)
    {
        CPython.SetError(failure is PythonError ? CPython.RuntimeError : CPython.OSError, failure.Message);
        return 0;
    }
}
