using System.Runtime.InteropServices;
using System.Text;

namespace Adapter;

/// <summary>
/// The adapter's binding of CPython's C API: the functions the in-process bridge calls, resolved once from the
/// interpreter's libpython through function pointers. Only functions every CPython from 3.11 on exports under the same
/// signature are used (most are in the stable ABI), so one build loads 3.11 to 3.14.
/// </summary>
/// <remarks>
/// Conventions, as in C: a function returning a new reference hands it to the caller, who decrefs it under the GIL; a
/// null result means a Python exception is set. Every call here needs the GIL unless its summary says otherwise.
/// Calls that neither block, run Python code (a <c>__del__</c>, a garbage collection) nor call back into .NET skip
/// the runtime's GC transition (<c>SuppressGCTransition</c>): they cost a plain native call. <c>PyDict_SetItem</c> is
/// among them because the adapter only stores <c>str</c> keys and values that hold no references.
/// </remarks>
internal static unsafe partial class CPython
{
    /// <summary><c>Py_file_input</c>: compile a whole module.</summary>
    private const int FileInput = 257;

    /// <summary><c>METH_FASTCALL</c>: a C function taking (self, args array, count).</summary>
    private const int MethFastCall = 0x0080;

    private static delegate* unmanaged<int, void> s_initializeEx;
    private static delegate* unmanaged<int> s_finalizeEx;
    private static delegate* unmanaged<nint, void> s_setProgramName;
    private static delegate* unmanaged<nint> s_saveThread;
    private static delegate* unmanaged<nint, void> s_restoreThread;
    private static delegate* unmanaged<int> s_gilStateEnsure;
    private static delegate* unmanaged<int, void> s_gilStateRelease;
    private static delegate* unmanaged<CULong> s_threadIdent;
    private static delegate* unmanaged<CULong, nint, int> s_setAsyncExc;
    private static delegate* unmanaged[SuppressGCTransition]<nint, void> s_incRef;
    private static delegate* unmanaged<nint, void> s_decRef;
    private static delegate* unmanaged[SuppressGCTransition]<nint, void> s_decRefPlain;
    private static delegate* unmanaged[SuppressGCTransition]<byte*, nint, nint> s_unicodeFromUtf8;
    private static delegate* unmanaged[SuppressGCTransition]<byte*, nint, byte*, nint> s_unicodeDecodeLatin1;
    private static delegate* unmanaged<byte*, nint> s_unicodeIntern;
    private static delegate* unmanaged[SuppressGCTransition]<nint, nint*, byte*> s_unicodeAsUtf8;
    private static delegate* unmanaged[SuppressGCTransition]<nint, nint> s_bytesSize;
    private static delegate* unmanaged[SuppressGCTransition]<nint, byte*> s_bytesAsString;
    private static delegate* unmanaged[SuppressGCTransition]<nint, nint> s_byteArraySize;
    private static delegate* unmanaged[SuppressGCTransition]<nint, byte*> s_byteArrayAsString;
    private static delegate* unmanaged[SuppressGCTransition]<long, nint> s_longFromLong;
    private static delegate* unmanaged[SuppressGCTransition]<ulong, nint> s_longFromUnsigned;
    private static delegate* unmanaged[SuppressGCTransition]<nint, long> s_longAsLong;
    private static delegate* unmanaged<double, nint> s_floatFromDouble;
    private static delegate* unmanaged<nint> s_dictNew;
    private static delegate* unmanaged[SuppressGCTransition]<nint, nint, nint, int> s_dictSetItem;
    private static delegate* unmanaged<nint, nint> s_tupleNew;
    private static delegate* unmanaged<nint, nint, nint, int> s_tupleSetItem;
    private static delegate* unmanaged[SuppressGCTransition]<nint, nint, nint> s_tupleGetItem;
    private static delegate* unmanaged<nint, byte*, nint> s_getAttrString;
    private static delegate* unmanaged<nint, byte*, nint, int> s_setAttrString;
    private static delegate* unmanaged<nint, nint*, nuint, nint, nint> s_vectorcall;
    private static delegate* unmanaged<nint, nint*, nuint, nint, nint> s_vectorcallMethod;
    private static delegate* unmanaged<nint, nint> s_getIter;
    private static delegate* unmanaged<nint, nint> s_iterNext;
    private static delegate* unmanaged[SuppressGCTransition]<nint> s_errOccurred;
    private static delegate* unmanaged<void> s_errClear;
    private static delegate* unmanaged<nint, nint> s_objectStr;
    private static delegate* unmanaged<nint*, nint*, nint*, void> s_errFetch;
    private static delegate* unmanaged<nint*, nint*, nint*, void> s_errNormalize;
    private static delegate* unmanaged<nint, nint, nint, void> s_errRestore;
    private static delegate* unmanaged<nint, byte*, void> s_errSetString;
    private static delegate* unmanaged<nint, nint, int> s_exceptionMatches;
    private static delegate* unmanaged<byte*, byte*, int, nint> s_compileString;
    private static delegate* unmanaged<byte*, nint, byte*, nint> s_execCodeModule;
    private static delegate* unmanaged<byte*, nint> s_importModule;
    private static delegate* unmanaged<nint, nint, nint, nint> s_cFunctionNew;
    private static delegate* unmanaged[SuppressGCTransition]<nint, nint> s_tupleSize;
    private static delegate* unmanaged[SuppressGCTransition]<nint, nint> s_listSize;
    private static delegate* unmanaged[SuppressGCTransition]<nint, nint, nint> s_listGetItem;
    private static delegate* unmanaged[SuppressGCTransition]<nint, ulong> s_typeGetFlags;
    private static delegate* unmanaged<nint, nint> s_objectRepr;

    /// <summary><c>None</c> (borrowed, immortal for the adapter's purposes: it is never decref'd here).</summary>
    public static nint None { get; private set; }

    /// <summary><c>True</c> (borrowed).</summary>
    public static nint True { get; private set; }

    /// <summary><c>False</c> (borrowed).</summary>
    public static nint False { get; private set; }

    /// <summary>The <c>bytes</c> type (borrowed).</summary>
    public static nint BytesType { get; private set; }

    /// <summary>The <c>str</c> type (borrowed).</summary>
    public static nint StrType { get; private set; }

    /// <summary>The <c>tuple</c> type (borrowed).</summary>
    public static nint TupleType { get; private set; }

    /// <summary>The <c>list</c> type (borrowed).</summary>
    public static nint ListType { get; private set; }

    /// <summary><c>OSError</c> (borrowed).</summary>
    public static nint OSError { get; private set; }

    /// <summary><c>TypeError</c> (borrowed).</summary>
    public static nint TypeError { get; private set; }

    /// <summary><c>ValueError</c> (borrowed).</summary>
    public static nint ValueError { get; private set; }

    /// <summary><c>AssertionError</c> (borrowed).</summary>
    public static nint AssertionError { get; private set; }

    /// <summary><c>RuntimeError</c> (borrowed).</summary>
    public static nint RuntimeError { get; private set; }

    /// <summary><c>StopIteration</c> (borrowed).</summary>
    public static nint StopIteration { get; private set; }

    /// <summary>Resolves every function from <paramref name="library"/>; needs no GIL (nothing runs yet).</summary>
    /// <exception cref="EntryPointNotFoundException">The library lacks one: not a CPython 3.11 or later.</exception>
    public static void Load(string library)
    {
        // Global, as the python3 executable has it: C extensions (Debian's are not linked to libpython) resolve their
        // Py* symbols in the process's global scope; NativeLibrary.Load opens a library local to itself.
        var handle = Open(library, RtldNow | RtldGlobal);
        if (handle == 0)
        {
            throw new DllNotFoundException($"Cannot load '{library}': {Marshal.PtrToStringUTF8(LastOpenError())}");
        }

        nint Export(string name) => NativeLibrary.GetExport(handle, name);
        s_initializeEx = (delegate* unmanaged<int, void>)Export("Py_InitializeEx");
        s_finalizeEx = (delegate* unmanaged<int>)Export("Py_FinalizeEx");
        s_setProgramName = NativeLibrary.TryGetExport(handle, "Py_SetProgramName", out var setName) ? (delegate* unmanaged<nint, void>)setName : null;
        s_saveThread = (delegate* unmanaged<nint>)Export("PyEval_SaveThread");
        s_restoreThread = (delegate* unmanaged<nint, void>)Export("PyEval_RestoreThread");
        s_gilStateEnsure = (delegate* unmanaged<int>)Export("PyGILState_Ensure");
        s_gilStateRelease = (delegate* unmanaged<int, void>)Export("PyGILState_Release");
        s_threadIdent = (delegate* unmanaged<CULong>)Export("PyThread_get_thread_ident");
        s_setAsyncExc = (delegate* unmanaged<CULong, nint, int>)Export("PyThreadState_SetAsyncExc");
        s_incRef = (delegate* unmanaged[SuppressGCTransition]<nint, void>)Export("Py_IncRef");
        s_decRef = (delegate* unmanaged<nint, void>)Export("Py_DecRef");
        s_decRefPlain = (delegate* unmanaged[SuppressGCTransition]<nint, void>)Export("Py_DecRef");
        s_unicodeFromUtf8 = (delegate* unmanaged[SuppressGCTransition]<byte*, nint, nint>)Export("PyUnicode_FromStringAndSize");
        s_unicodeDecodeLatin1 = (delegate* unmanaged[SuppressGCTransition]<byte*, nint, byte*, nint>)Export("PyUnicode_DecodeLatin1");
        s_unicodeIntern = (delegate* unmanaged<byte*, nint>)Export("PyUnicode_InternFromString");
        s_unicodeAsUtf8 = (delegate* unmanaged[SuppressGCTransition]<nint, nint*, byte*>)Export("PyUnicode_AsUTF8AndSize");
        s_bytesSize = (delegate* unmanaged[SuppressGCTransition]<nint, nint>)Export("PyBytes_Size");
        s_bytesAsString = (delegate* unmanaged[SuppressGCTransition]<nint, byte*>)Export("PyBytes_AsString");
        s_byteArraySize = (delegate* unmanaged[SuppressGCTransition]<nint, nint>)Export("PyByteArray_Size");
        s_byteArrayAsString = (delegate* unmanaged[SuppressGCTransition]<nint, byte*>)Export("PyByteArray_AsString");
        s_longFromLong = (delegate* unmanaged[SuppressGCTransition]<long, nint>)Export("PyLong_FromLongLong");
        s_longFromUnsigned = (delegate* unmanaged[SuppressGCTransition]<ulong, nint>)Export("PyLong_FromUnsignedLongLong");
        s_longAsLong = (delegate* unmanaged[SuppressGCTransition]<nint, long>)Export("PyLong_AsLongLong");
        s_floatFromDouble = (delegate* unmanaged<double, nint>)Export("PyFloat_FromDouble");
        s_dictNew = (delegate* unmanaged<nint>)Export("PyDict_New");
        s_dictSetItem = (delegate* unmanaged[SuppressGCTransition]<nint, nint, nint, int>)Export("PyDict_SetItem");
        s_tupleNew = (delegate* unmanaged<nint, nint>)Export("PyTuple_New");
        s_tupleSetItem = (delegate* unmanaged<nint, nint, nint, int>)Export("PyTuple_SetItem");
        s_tupleGetItem = (delegate* unmanaged[SuppressGCTransition]<nint, nint, nint>)Export("PyTuple_GetItem");
        s_getAttrString = (delegate* unmanaged<nint, byte*, nint>)Export("PyObject_GetAttrString");
        s_setAttrString = (delegate* unmanaged<nint, byte*, nint, int>)Export("PyObject_SetAttrString");
        s_vectorcall = (delegate* unmanaged<nint, nint*, nuint, nint, nint>)Export("PyObject_Vectorcall");
        s_vectorcallMethod = (delegate* unmanaged<nint, nint*, nuint, nint, nint>)Export("PyObject_VectorcallMethod");
        s_getIter = (delegate* unmanaged<nint, nint>)Export("PyObject_GetIter");
        s_iterNext = (delegate* unmanaged<nint, nint>)Export("PyIter_Next");
        s_errOccurred = (delegate* unmanaged[SuppressGCTransition]<nint>)Export("PyErr_Occurred");
        s_errClear = (delegate* unmanaged<void>)Export("PyErr_Clear");
        s_objectStr = (delegate* unmanaged<nint, nint>)Export("PyObject_Str");
        s_errFetch = (delegate* unmanaged<nint*, nint*, nint*, void>)Export("PyErr_Fetch");
        s_errNormalize = (delegate* unmanaged<nint*, nint*, nint*, void>)Export("PyErr_NormalizeException");
        s_errRestore = (delegate* unmanaged<nint, nint, nint, void>)Export("PyErr_Restore");
        s_errSetString = (delegate* unmanaged<nint, byte*, void>)Export("PyErr_SetString");
        s_exceptionMatches = (delegate* unmanaged<nint, nint, int>)Export("PyErr_GivenExceptionMatches");
        s_compileString = (delegate* unmanaged<byte*, byte*, int, nint>)Export("Py_CompileString");
        s_execCodeModule = (delegate* unmanaged<byte*, nint, byte*, nint>)Export("PyImport_ExecCodeModuleEx");
        s_importModule = (delegate* unmanaged<byte*, nint>)Export("PyImport_ImportModule");
        s_cFunctionNew = (delegate* unmanaged<nint, nint, nint, nint>)Export("PyCFunction_NewEx");
        s_tupleSize = (delegate* unmanaged[SuppressGCTransition]<nint, nint>)Export("PyTuple_Size");
        s_listSize = (delegate* unmanaged[SuppressGCTransition]<nint, nint>)Export("PyList_Size");
        s_listGetItem = (delegate* unmanaged[SuppressGCTransition]<nint, nint, nint>)Export("PyList_GetItem");
        s_typeGetFlags = (delegate* unmanaged[SuppressGCTransition]<nint, ulong>)Export("PyType_GetFlags");
        s_objectRepr = (delegate* unmanaged<nint, nint>)Export("PyObject_Repr");

        // Objects the library exports as data: the address of the symbol is the object.
        None = Export("_Py_NoneStruct");
        True = Export("_Py_TrueStruct");
        False = Export("_Py_FalseStruct");
        BytesType = Export("PyBytes_Type");
        StrType = Export("PyUnicode_Type");
        TupleType = Export("PyTuple_Type");
        ListType = Export("PyList_Type");

        // Exception classes are exported as pointers to them.
        OSError = *(nint*)Export("PyExc_OSError");
        TypeError = *(nint*)Export("PyExc_TypeError");
        ValueError = *(nint*)Export("PyExc_ValueError");
        AssertionError = *(nint*)Export("PyExc_AssertionError");
        RuntimeError = *(nint*)Export("PyExc_RuntimeError");
        StopIteration = *(nint*)Export("PyExc_StopIteration");
    }

    /// <summary>
    /// Sets the program name CPython derives <c>sys.executable</c>, its prefix and site-packages from (a virtualenv's
    /// <c>pyvenv.cfg</c> included); before <see cref="Initialize"/>, no GIL. False when the library has no
    /// <c>Py_SetProgramName</c> any more (a future CPython): it then starts as its default <c>python3</c>.
    /// </summary>
    public static bool SetProgramName(string executable)
    {
        if (s_setProgramName is null)
        {
            return false;
        }

        // wchar_t is 32 bits on Linux and macOS; CPython keeps the pointer, so the memory is never freed.
        var bytes = Encoding.UTF32.GetBytes(executable + "\0");
        var name = NativeMemory.Alloc((nuint)bytes.Length);
        bytes.CopyTo(new Span<byte>(name, bytes.Length));
        s_setProgramName((nint)name);
        return true;
    }

    /// <summary>Py_InitializeEx(0): starts the interpreter with no signal handlers of Python's own; the calling thread keeps the GIL.</summary>
    public static void Initialize() => s_initializeEx(0);

    /// <summary>Py_FinalizeEx: runs <c>atexit</c>, waits for Python's non-daemon threads, frees the interpreter.</summary>
    public static int FinalizeEx() => s_finalizeEx();

    /// <summary>PyEval_SaveThread: lets go of the GIL; returns the thread state to restore.</summary>
    public static nint SaveThread() => s_saveThread();

    /// <summary>PyEval_RestoreThread: takes the GIL back with <paramref name="state"/>, waiting for it; needs no GIL.</summary>
    public static void RestoreThread(nint state) => s_restoreThread(state);

    /// <summary>PyGILState_Ensure: takes the GIL, creating a thread state for a thread that has none; needs no GIL.</summary>
    public static int GilStateEnsure() => s_gilStateEnsure();

    /// <summary>PyGILState_Release: undoes one <see cref="GilStateEnsure"/>.</summary>
    public static void GilStateRelease(int state) => s_gilStateRelease(state);

    /// <summary>The calling thread's id as Python knows it (<c>threading.get_ident()</c>); needs no GIL.</summary>
    public static CULong ThreadIdent() => s_threadIdent();

    /// <summary>PyThreadState_SetAsyncExc; returns how many thread states were changed.</summary>
    public static int SetAsyncExc(CULong thread, nint exceptionType) => s_setAsyncExc(thread, exceptionType);

    public static void IncRef(nint item) => s_incRef(item);

    /// <summary>Py_DecRef; null is allowed.</summary>
    public static void DecRef(nint item) => s_decRef(item);

    /// <summary>Py_DecRef of a <c>str</c>, <c>int</c> or <c>bytes</c> the caller made, whose freeing runs no Python code.</summary>
    public static void DecRefPlain(nint item) => s_decRefPlain(item);

    /// <summary>A new <c>str</c> from UTF-8 text.</summary>
    public static nint Str(ReadOnlySpan<byte> utf8)
    {
        fixed (byte* data = utf8)
        {
            return s_unicodeFromUtf8(data, utf8.Length);
        }
    }

    /// <summary>A new <c>str</c> from .NET text.</summary>
    public static nint Str(string text)
    {
        var length = Encoding.UTF8.GetByteCount(text);
        var buffer = length <= 512 ? stackalloc byte[length] : new byte[length];
        Encoding.UTF8.GetBytes(text, buffer);
        return Str(buffer);
    }

    /// <summary>A new <c>str</c> whose code points are <paramref name="latin1"/>'s bytes (PEP 3333's native strings).</summary>
    public static nint StrFromLatin1(ReadOnlySpan<byte> latin1)
    {
        fixed (byte* data = latin1)
        {
            return s_unicodeDecodeLatin1(data, latin1.Length, null);
        }
    }

    /// <summary>An interned <c>str</c> (a new reference) for an ASCII name.</summary>
    public static nint Intern(string name)
    {
        var bytes = Encoding.UTF8.GetBytes(name + "\0");
        fixed (byte* data = bytes)
        {
            return s_unicodeIntern(data);
        }
    }

    /// <summary>A <c>str</c>'s text; throws <see cref="PythonError"/> when it is not one.</summary>
    public static string ToText(nint text)
    {
        nint length;
        var data = s_unicodeAsUtf8(text, &length);
        return data is null ? throw PythonError.Fetch() : Encoding.UTF8.GetString(data, checked((int)length));
    }

    /// <summary>A <c>bytes</c> object's contents, valid while it is alive.</summary>
    public static ReadOnlySpan<byte> BytesSpan(nint bytes)
    {
        var size = s_bytesSize(bytes);
        var data = s_bytesAsString(bytes);
        return size < 0 || data is null ? throw PythonError.Fetch() : new ReadOnlySpan<byte>(data, checked((int)size));
    }

    /// <summary>A <c>bytearray</c>'s storage, valid while nothing resizes it.</summary>
    public static Span<byte> ByteArraySpan(nint byteArray)
    {
        var size = s_byteArraySize(byteArray);
        var data = s_byteArrayAsString(byteArray);
        return size < 0 || data is null ? throw PythonError.Fetch() : new Span<byte>(data, checked((int)size));
    }

    public static nint Int(long value) => s_longFromLong(value);

    public static nint UnsignedInt(ulong value) => s_longFromUnsigned(value);

    /// <summary>An <c>int</c>'s value; -1 with an exception set when it is not one or does not fit.</summary>
    public static long AsLong(nint value) => s_longAsLong(value);

    public static nint Float(double value) => s_floatFromDouble(value);

    public static nint NewDict() => s_dictNew();

    /// <summary>PyDict_SetItem: takes its own references to key and value; false with an exception set on failure.</summary>
    public static bool SetItem(nint dict, nint key, nint value) => s_dictSetItem(dict, key, value) == 0;

    public static nint NewTuple(int size) => s_tupleNew(size);

    /// <summary>PyTuple_SetItem: steals <paramref name="item"/>.</summary>
    public static void SetTupleItem(nint tuple, int index, nint item) => s_tupleSetItem(tuple, index, item);

    /// <summary>PyTuple_GetItem: a borrowed reference.</summary>
    public static nint TupleItem(nint tuple, int index) => s_tupleGetItem(tuple, index);

    /// <summary>An attribute (a new reference), or null with an exception set.</summary>
    public static nint GetAttr(nint item, ReadOnlySpan<byte> nameUtf8z)
    {
        fixed (byte* name = nameUtf8z)
        {
            return s_getAttrString(item, name);
        }
    }

    public static bool SetAttr(nint item, ReadOnlySpan<byte> nameUtf8z, nint value)
    {
        fixed (byte* name = nameUtf8z)
        {
            return s_setAttrString(item, name, value) == 0;
        }
    }

    /// <summary>Calls <paramref name="callable"/> with positional arguments; a new reference, or null with an exception set.</summary>
    public static nint Call(nint callable, ReadOnlySpan<nint> arguments)
    {
        fixed (nint* args = arguments)
        {
            return s_vectorcall(callable, args, (nuint)arguments.Length, 0);
        }
    }

    /// <summary>Calls the method <paramref name="name"/> (an interned str) of <c>arguments[0]</c> with the rest.</summary>
    public static nint CallMethod(nint name, ReadOnlySpan<nint> arguments)
    {
        fixed (nint* args = arguments)
        {
            return s_vectorcallMethod(name, args, (nuint)arguments.Length, 0);
        }
    }

    public static nint GetIter(nint item) => s_getIter(item);

    /// <summary>PyIter_Next: the next item, or null at the end (no exception) or on failure (<see cref="ErrorOccurred"/>).</summary>
    public static nint IterNext(nint iterator) => s_iterNext(iterator);

    public static bool ErrorOccurred() => s_errOccurred() != 0;

    /// <summary>PyErr_Clear: drops the pending exception.</summary>
    public static void ClearError() => s_errClear();

    /// <summary>PyObject_Str: a new reference, or null with an exception set.</summary>
    public static nint ToStr(nint item) => s_objectStr(item);

    /// <summary>Takes the pending exception (type, value, traceback: new references, normalized); zeros when none.</summary>
    public static (nint Type, nint Value, nint Traceback) FetchError()
    {
        nint type, value, traceback;
        s_errFetch(&type, &value, &traceback);
        if (type != 0)
        {
            s_errNormalize(&type, &value, &traceback);
        }

        return (type, value, traceback);
    }

    /// <summary>Sets the pending exception again, stealing the three references.</summary>
    public static void RestoreError(nint type, nint value, nint traceback) => s_errRestore(type, value, traceback);

    /// <summary>Raises <paramref name="type"/>(<paramref name="message"/>) in the calling Python code.</summary>
    public static void SetError(nint type, string message)
    {
        var bytes = Encoding.UTF8.GetBytes(message + "\0");
        fixed (byte* data = bytes)
        {
            s_errSetString(type, data);
        }
    }

    /// <summary>Whether an exception (type or instance) is, or derives from, <paramref name="type"/>.</summary>
    public static bool Matches(nint given, nint type) => s_exceptionMatches(given, type) != 0;

    /// <summary>Compiles and runs <paramref name="source"/> as the module <paramref name="name"/>; a new reference to it.</summary>
    public static nint ExecModule(string name, string source, string fileName)
    {
        var code = Utf8Z(source);
        var file = Utf8Z(fileName);
        var module = Utf8Z(name);
        fixed (byte* codeText = code, fileText = file, moduleName = module)
        {
            var compiled = s_compileString(codeText, fileText, FileInput);
            if (compiled == 0)
            {
                return 0;
            }

            var result = s_execCodeModule(moduleName, compiled, fileText);
            DecRef(compiled);
            return result;
        }
    }

    /// <summary>Imports a module; a new reference, or null with an exception set.</summary>
    public static nint Import(string name)
    {
        var bytes = Utf8Z(name);
        fixed (byte* data = bytes)
        {
            return s_importModule(data);
        }
    }

    /// <summary>
    /// A new built-in function object calling <paramref name="definition"/> (a <c>PyMethodDef</c> that outlives it), which
    /// gets <paramref name="self"/> (kept alive by the function) as its first argument.
    /// </summary>
    public static nint NewFunction(MethodDefinition* definition, nint self = 0) => s_cFunctionNew((nint)definition, self, 0);

    /// <summary>PyTuple_Size.</summary>
    public static nint TupleSize(nint tuple) => s_tupleSize(tuple);

    /// <summary>PyList_Size.</summary>
    public static nint ListSize(nint list) => s_listSize(list);

    /// <summary>PyList_GetItem: a borrowed reference.</summary>
    public static nint ListItem(nint list, nint index) => s_listGetItem(list, index);

    /// <summary>Whether the object's type has the <c>tp_flags</c> bit <paramref name="flag"/> (a subclass check for built-in types).</summary>
    public static bool HasFlag(nint item, ulong flag) => (s_typeGetFlags(TypeOf(item)) & flag) != 0;

    /// <summary>Whether the object is a <c>bytes</c> (or a subclass of it).</summary>
    public static bool IsBytes(nint item) => TypeOf(item) == BytesType || HasFlag(item, 1UL << 27);

    /// <summary>The object's type's name, for messages.</summary>
    public static string TypeName(nint item) => TakeText(GetAttr(TypeOf(item), "__name__\0"u8)) ?? "?";

    /// <summary><c>repr()</c> of the object, for messages.</summary>
    public static string Repr(nint item) => TakeText(s_objectRepr(item)) ?? "?";

    /// <summary>
    /// The text of <paramref name="text"/>, a new reference to a <c>str</c> that this drops; null (the exception cleared)
    /// when it is null because the call that made it failed, or is not a <c>str</c>. For messages and descriptions.
    /// </summary>
    public static string? TakeText(nint text)
    {
        if (text == 0)
        {
            ClearError();
            return null;
        }

        try
        {
            nint length;
            var data = s_unicodeAsUtf8(text, &length);
            if (data is null)
            {
                ClearError();
                return null;
            }

            return Encoding.UTF8.GetString(data, checked((int)length));
        }
        finally
        {
            DecRef(text);
        }
    }

    /// <summary>
    /// A <c>PyMethodDef</c> for a METH_FASTCALL function, in memory that is never freed (CPython keeps pointing at it);
    /// <paramref name="function"/> is an <c>[UnmanagedCallersOnly]</c> method taking (self, args, count).
    /// </summary>
    public static MethodDefinition* Define(string name, delegate* unmanaged<nint, nint*, nint, nint> function) =>
        Define(name, (delegate* unmanaged<nint, nint*, nint, nint, nint>)function, MethFastCall);

    /// <summary>A <c>PyMethodDef</c> with the calling convention <paramref name="flags"/> (METH_FASTCALL | METH_KEYWORDS, say).</summary>
    public static MethodDefinition* Define(string name, delegate* unmanaged<nint, nint*, nint, nint, nint> function, int flags)
    {
        var definition = (MethodDefinition*)NativeMemory.AllocZeroed((nuint)sizeof(MethodDefinition));
        var bytes = Utf8Z(name);
        var text = (byte*)NativeMemory.Alloc((nuint)bytes.Length);
        bytes.CopyTo(new Span<byte>(text, bytes.Length));
        definition->Name = text;
        definition->Function = (nint)function;
        definition->Flags = flags;
        return definition;
    }

    /// <summary>The object's type (borrowed): <c>ob_type</c>, the second word of every object in CPython's default build.</summary>
    public static nint TypeOf(nint item) => ((nint*)item)[1];

    private static byte[] Utf8Z(string text) => Encoding.UTF8.GetBytes(text + "\0");

    private const int RtldNow = 0x2;
    private const int RtldGlobal = 0x100;

    [LibraryImport("libc", EntryPoint = "dlopen", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint Open(string file, int mode);

    [LibraryImport("libc", EntryPoint = "dlerror")]
    private static partial nint LastOpenError();

    /// <summary>CPython's <c>PyMethodDef</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct MethodDefinition
    {
        public byte* Name;
        public nint Function;
        public int Flags;
        public byte* Doc;
    }
}
