using Python.Runtime;

namespace Adapter;

/// <summary>
/// The .NET side of one request, called by the bridge's start_response, write, wsgi.input and wsgi.errors.
/// </summary>
/// <remarks>
/// Public members are what Python binds to; the type itself stays internal. pythonnet lets go of the GIL
/// around every .NET method Python calls, so a socket write or a body read here never holds up other
/// requests' Python. The bytes and bytearray objects passed in are read and filled without the GIL: the
/// Python frame waiting on the call keeps them alive, and nothing else in Python can reach them meanwhile.
/// </remarks>
internal sealed class PythonCall(StartResponse startResponse, Stream? input, TextWriter? errors)
{
    private Action<byte[]>? _write;

    /// <summary>
    /// start_response: "" when accepted; "R" when headers were sent and the app's exc_info must be re-raised;
    /// otherwise "T:", "V:" or "A:" and a message, for TypeError, ValueError or AssertionError.
    /// </summary>
    public string Start(string status, string flatHeaders, bool hasExcInfo)
    {
        var headers = Split(flatHeaders);
        if (headers is null)
        {
            return "V:response headers must come in name and value pairs";
        }

        var marker = hasExcInfo ? new AppErrorMarker() : null;
        try
        {
            _write = startResponse(status, headers, marker);
            return "";
        }
        catch (AppErrorMarker caught) when (ReferenceEquals(caught, marker))
        {
            return "R";
        }
        catch (ArgumentException ex)
        {
            return "V:" + ex.Message;
        }
        catch (InvalidOperationException ex)
        {
            return "A:" + ex.Message;
        }
    }

    /// <summary>write(data): sends at once.</summary>
    public void Write(PyObject data)
    {
        var write = _write ?? throw new InvalidOperationException("write() was called before start_response().");
#pragma warning disable CS0612 // Handle: the raw pointer, to copy the bytes without marshalling each one.
        write(PythonNative.CopyBytes(data.Handle));
#pragma warning restore CS0612
    }

    /// <summary>Reads the request body into a Python bytearray; 0 at its end.</summary>
    public int ReadInto(PyObject buffer)
    {
        if (input is null)
        {
            return 0;
        }

#pragma warning disable CS0612
        var (pointer, length) = PythonNative.ByteArrayStorage(buffer.Handle);
#pragma warning restore CS0612
        return input.Read(PythonNative.AsSpan(pointer, length));
    }

    /// <summary>wsgi.errors.write(text).</summary>
    public void Error(string text) => errors?.Write(text);

    private static List<(string Name, string Value)>? Split(string flat)
    {
        var headers = new List<(string Name, string Value)>();
        if (flat.Length == 0)
        {
            return headers;
        }

        var parts = flat.Split('\0');
        if (parts.Length % 2 != 0)
        {
            return null;
        }

        for (var i = 0; i < parts.Length; i += 2)
        {
            headers.Add((parts[i], parts[i + 1]));
        }

        return headers;
    }

    /// <summary>Stands for the app's exc_info: the adapter throws it back when the headers were already sent.</summary>
    private sealed class AppErrorMarker() : Exception("The app passed exc_info to start_response after the headers were sent.");
}
