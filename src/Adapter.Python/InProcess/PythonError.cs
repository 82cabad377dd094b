namespace Adapter;

/// <summary>
/// A Python exception that reached .NET through the C API, taken off the thread with <see cref="Fetch"/>: its type's
/// name, <c>str()</c> of it, and the whole description with the traceback, as the adapter logs it.
/// </summary>
internal sealed class PythonError(string typeName, string message, string description) : Exception(message)
{
    /// <summary>The exception class's <c>__name__</c>.</summary>
    public string TypeName => typeName;

    /// <summary><c>Type: message</c>, a new line, and the traceback (the bridge's <c>describe</c>).</summary>
    public string Description => description;

    /// <summary>Takes the thread's pending Python exception (the GIL must be held) and describes it.</summary>
    public static PythonError Fetch()
    {
        var (type, value, traceback) = CPython.FetchError();
        if (type == 0)
        {
            return new PythonError("SystemError", "a Python call failed without setting an exception", "SystemError: a Python call failed without setting an exception");
        }

        try
        {
            return Describe(type, value, traceback);
        }
        finally
        {
            CPython.DecRef(type);
            CPython.DecRef(value);
            CPython.DecRef(traceback);
        }
    }

    private static PythonError Describe(nint type, nint value, nint traceback)
    {
        // The bridge formats it (one definition of what a logged Python failure looks like); before the bridge is
        // loaded, or if describing fails too, the bare type name and str() are what is left.
        var name = Text(type, "__name__"u8) ?? "Exception";
        var message = Str(value) ?? "";
        if (PythonRuntime.Describe is var describe and not 0)
        {
            var text = CPython.Call(describe, [type, value, traceback == 0 ? CPython.None : traceback]);
            if (text != 0)
            {
                try
                {
                    return new PythonError(name, message, CPython.ToText(text));
                }
                finally
                {
                    CPython.DecRef(text);
                }
            }

            CPython.ClearError();
        }

        return new PythonError(name, message, $"{name}: {message}");
    }

    private static string? Text(nint item, ReadOnlySpan<byte> attribute) => CPython.TakeText(CPython.GetAttr(item, attribute));

    private static string? Str(nint item) => item == 0 ? null : CPython.TakeText(CPython.ToStr(item));
}
