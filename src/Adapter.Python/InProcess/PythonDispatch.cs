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

    /// <summary>Reads the request body into a Python bytearray; 0 at its end.</summary>
    public int ReadInto(long id, PyObject buffer)
    {
        var input = PythonCall.Find(id).Input;
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
    public void Error(long id, string text) => PythonCall.Find(id).Errors?.Write(text);
}
