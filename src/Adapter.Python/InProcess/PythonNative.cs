using System.Runtime.InteropServices;

namespace Adapter;

/// <summary>
/// The few CPython C-API calls pythonnet does not expose publicly: a thread state that outlives one call,
/// copying bytes in and out of Python objects without marshalling element by element, and raising an exception
/// in another thread.
/// </summary>
internal static unsafe class PythonNative
{
    private static delegate* unmanaged<int> _gilStateEnsure;
    private static delegate* unmanaged<int> _finalizeEx;
    private static delegate* unmanaged<nint, nint> _bytesSize;
    private static delegate* unmanaged<nint, byte*> _bytesAsString;
    private static delegate* unmanaged<nint, nint> _byteArraySize;
    private static delegate* unmanaged<nint, byte*> _byteArrayAsString;
    private static delegate* unmanaged<CULong> _threadIdent;
    private static delegate* unmanaged<CULong, nint, int> _setAsyncExc;

    /// <summary>Resolves the calls from the libpython pythonnet loaded.</summary>
    public static void Load(string library)
    {
        var handle = NativeLibrary.Load(library);
        _gilStateEnsure = (delegate* unmanaged<int>)NativeLibrary.GetExport(handle, "PyGILState_Ensure");
        _finalizeEx = (delegate* unmanaged<int>)NativeLibrary.GetExport(handle, "Py_FinalizeEx");
        _bytesSize = (delegate* unmanaged<nint, nint>)NativeLibrary.GetExport(handle, "PyBytes_Size");
        _bytesAsString = (delegate* unmanaged<nint, byte*>)NativeLibrary.GetExport(handle, "PyBytes_AsString");
        _byteArraySize = (delegate* unmanaged<nint, nint>)NativeLibrary.GetExport(handle, "PyByteArray_Size");
        _byteArrayAsString = (delegate* unmanaged<nint, byte*>)NativeLibrary.GetExport(handle, "PyByteArray_AsString");
        _threadIdent = (delegate* unmanaged<CULong>)NativeLibrary.GetExport(handle, "PyThread_get_thread_ident");
        _setAsyncExc = (delegate* unmanaged<CULong, nint, int>)NativeLibrary.GetExport(handle, "PyThreadState_SetAsyncExc");
    }

    /// <summary>PyThread_get_thread_ident: the calling thread's id as Python knows it (<c>threading.get_ident()</c>).</summary>
    public static CULong ThreadIdent() => _threadIdent();

    /// <summary>
    /// PyThreadState_SetAsyncExc: the thread <paramref name="thread"/> raises <paramref name="exceptionType"/> (a class; a
    /// null pointer takes back one still pending) the next time it runs Python bytecode. The GIL must be held.
    /// </summary>
    /// <returns>How many thread states were changed: 1, or 0 when no thread has that id.</returns>
    public static int SetAsyncExc(CULong thread, nint exceptionType) => _setAsyncExc(thread, exceptionType);

    /// <summary>PyGILState_Ensure: takes the GIL, creating this thread's state the first time.</summary>
    public static int EnsureGil() => _gilStateEnsure();

    /// <summary>
    /// Py_FinalizeEx: runs <c>atexit</c> functions, waits for Python's own non-daemon threads and frees the
    /// interpreter. pythonnet's Shutdown only releases its own objects and leaves CPython running.
    /// </summary>
    public static int FinalizeInterpreter() => _finalizeEx();

    /// <summary>A copy of a Python <c>bytes</c> object's contents; the object must be kept alive by the caller.</summary>
    public static byte[] CopyBytes(nint bytes)
    {
        var size = _bytesSize(bytes);
        var data = _bytesAsString(bytes);
        if (size < 0 || data is null)
        {
            throw new InvalidOperationException("Expected a Python bytes object.");
        }

        return new ReadOnlySpan<byte>(data, checked((int)size)).ToArray();
    }

    /// <summary>Where a Python <c>bytearray</c>'s storage is and how long it is; nothing may resize it meanwhile.</summary>
    public static (nint Pointer, int Length) ByteArrayStorage(nint byteArray)
    {
        var size = _byteArraySize(byteArray);
        var data = _byteArrayAsString(byteArray);
        if (size < 0 || data is null)
        {
            throw new InvalidOperationException("Expected a Python bytearray object.");
        }

        return ((nint)data, checked((int)size));
    }

    /// <summary>A span over storage found by <see cref="ByteArrayStorage"/>, valid while nothing resizes the bytearray.</summary>
    public static Span<byte> AsSpan(nint pointer, int length) => new((void*)pointer, length);
}
