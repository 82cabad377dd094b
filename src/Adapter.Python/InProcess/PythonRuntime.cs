using System.Reflection;

namespace Adapter;

/// <summary>
/// The process's one CPython interpreter, run through the adapter's own C-API binding (<see cref="CPython"/>). It
/// starts with the first <see cref="PythonGateway"/>, on a thread of its own that keeps the main thread state, and is
/// finalized on that thread when the process exits.
/// </summary>
/// <remarks>
/// CPython cannot be started again in a process once finalized (extension modules keep state), so a host that stops
/// does not finalize it: the Python worker pool joins every thread that ran Python, and the interpreter is finalized
/// at process exit, after those threads are gone. A thread still inside Python then (a stuck app) keeps it from being
/// finalized, so exit never hangs on it. The bridge's functions are looked up once and kept for the process's life.
/// </remarks>
internal static class PythonRuntime
{
    private static readonly Lock Gate = new();
    private static readonly List<Thread> PythonThreads = [];
    private static readonly ManualResetEventSlim Stop = new();
    private static readonly CancellationTokenSource ExitingSource = new();
    private static Thread? s_owner;
    private static volatile bool s_threadsLeftInApps;

    /// <summary>The libpython the interpreter was loaded from.</summary>
    public static string? Library { get; private set; }

    /// <summary>Python's <c>sys.version</c>.</summary>
    public static string? Version { get; private set; }

    /// <summary>
    /// Canceled as the process exits, before the interpreter is finalized: a thread that calls into Python on its own
    /// (not for a request) ends then, and is registered (<see cref="RegisterThread"/>) so that finalizing waits for it.
    /// </summary>
    public static CancellationToken Exiting => ExitingSource.Token;

    /// <summary>For messages: the interpreter running in-process, <c>Python 3.11.2 (/usr/bin/python3)</c>.</summary>
    public static string? Description { get; private set; }

    /// <summary>The bridge module (<c>adapter_bridge.py</c>), borrowed for the process's life.</summary>
    public static nint Bridge { get; private set; }

    /// <summary>The bridge's <c>describe(type, value, traceback)</c>; 0 until the bridge is loaded.</summary>
    public static nint Describe { get; private set; }

    /// <summary>The interned name <c>flush</c>, wsgi.errors' method.</summary>
    public static nint FlushName { get; private set; }

    /// <summary>The bridge's wsgi.input class, <c>Input(request_id)</c>.</summary>
    public static nint InputType { get; private set; }

    /// <summary>The bridge's wsgi.errors class, <c>Errors(request_id)</c>.</summary>
    public static nint ErrorsType { get; private set; }

    /// <summary>The bridge's wsgi.file_wrapper class.</summary>
    public static nint FileWrapperType { get; private set; }

    /// <summary>
    /// Starts CPython once per process, from <paramref name="library"/> if set, else the libpython of the interpreter
    /// <paramref name="executable"/>; later calls only add <paramref name="paths"/> to <c>sys.path</c>.
    /// </summary>
    /// <returns>True when this call started the interpreter.</returns>
    public static bool EnsureStarted(string? library, string executable, IEnumerable<string> paths)
    {
        bool started;
        lock (Gate)
        {
            started = s_owner is null;
            if (started)
            {
                var (found, interpreter) = PythonLibraryLocator.Find(library, executable);
                Start(found, interpreter);
            }
        }

        string[] full = [.. paths.Select(Path.GetFullPath)];
        using (PythonGil.Take())
        {
            var list = CPython.NewTuple(full.Length);
            for (var i = 0; i < full.Length; i++)
            {
                CPython.SetTupleItem(list, i, CPython.Str(full[i]));
            }

            RunBridge("add_paths\0"u8, list);
            CPython.DecRef(list);
        }

        return started;
    }

    /// <summary>Notes a thread that keeps a Python thread state; finalization waits for it to end.</summary>
    public static void RegisterThread(Thread thread)
    {
        lock (PythonThreads)
        {
            PythonThreads.RemoveAll(static t => !t.IsAlive);
            PythonThreads.Add(thread);
        }
    }

    /// <summary>Calls the bridge's function <paramref name="name"/> with one argument; the GIL must be held.</summary>
    /// <returns>Its result (a new reference), or null with the exception set.</returns>
    public static nint CallBridge(ReadOnlySpan<byte> name, nint argument)
    {
        var function = CPython.GetAttr(Bridge, name);
        if (function == 0)
        {
            return 0;
        }

        var result = CPython.Call(function, [argument]);
        CPython.DecRef(function);
        return result;
    }

    /// <summary><see cref="CallBridge"/> for its effect; throws <see cref="PythonError"/> when it raised.</summary>
    private static void RunBridge(ReadOnlySpan<byte> name, nint argument)
    {
        var result = CallBridge(name, argument);
        CPython.DecRef(result != 0 ? result : throw PythonError.Fetch());
    }

    private static void Start(string library, PythonInterpreter? interpreter)
    {
        Exception? failure = null;
        using var ready = new ManualResetEventSlim();
        var owner = new Thread(() =>
        {
            nint mainState;
            try
            {
                CPython.Load(library);
                if (interpreter is not null)
                {
                    // CPython finds its prefix, its site-packages (a virtualenv's pyvenv.cfg included) and sys.executable
                    // from the program name: the interpreter's own, so the apps see what that python3 sees.
                    CPython.SetProgramName(interpreter.Executable);
                }

                // Before CPython opens its sys.stdout and sys.stderr over fd 1 and 2.
                PythonStdio.Capture(PythonDispatch.Log);
                CPython.Initialize();
                LoadBridge();
                Version = SysText("version\0"u8);
                Description = interpreter?.Description ?? $"Python {Version?.Split(' ')[0]} ({SysText("executable\0"u8)}, from {library})";
                mainState = CPython.SaveThread();
            }
            catch (Exception ex)
            {
                failure = ex;
                ready.Set();
                return;
            }

            ready.Set();
            Stop.Wait();

            // This thread's state is the interpreter's main one, which finalizing needs.
            CPython.RestoreThread(mainState);
            CPython.FinalizeEx();
        })
        {
            IsBackground = true,
            Name = "Python interpreter",
        };
        owner.Start();
        ready.Wait();
        if (failure is not null)
        {
            throw new PythonUnavailableException($"CPython could not be started from '{library}': {failure.Message}", failure);
        }

        Library = library;
        s_owner = owner;
        AppDomain.CurrentDomain.ProcessExit += static (_, _) => FinalizeAtExit();
    }

    /// <summary>A text attribute of <c>sys</c>; the GIL must be held.</summary>
    private static string? SysText(ReadOnlySpan<byte> name)
    {
        var sys = CPython.Import("sys");
        var value = sys == 0 ? 0 : CPython.GetAttr(sys, name);
        CPython.DecRef(sys);
        return CPython.TakeText(value);
    }

    private static void LoadBridge()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("adapter_bridge.py")
            ?? throw new InvalidOperationException("The adapter_bridge.py resource is missing.");
        using var reader = new StreamReader(stream);

        // Named, so its frames in a traceback say where they are.
        var bridge = CPython.ExecModule("adapter_bridge", reader.ReadToEnd(), "adapter_bridge.py");
        if (bridge == 0)
        {
            throw PythonError.Fetch();
        }

        Bridge = bridge;
        Describe = Function("describe\0"u8);
        InputType = Function("Input\0"u8);
        ErrorsType = Function("Errors\0"u8);
        FileWrapperType = Function("FileWrapper\0"u8);
        FlushName = CPython.Intern("flush");
        PythonStartResponse.Define();
        var dispatch = PythonDispatch.Create();
        RunBridge("attach\0"u8, dispatch);
        var log = CPython.GetAttr(dispatch, "Log\0"u8);
        CPython.DecRef(dispatch);
        RunBridge("capture_output\0"u8, log);
        CPython.DecRef(log);
    }

    private static nint Function(ReadOnlySpan<byte> name)
    {
        var function = CPython.GetAttr(Bridge, name);
        return function == 0 ? throw PythonError.Fetch() : function;
    }

    /// <summary>A pool stopped with threads still inside Python apps: finalizing is not safe, and waiting for them is pointless.</summary>
    public static void ThreadsLeftInApps() => s_threadsLeftInApps = true;

    /// <summary>At process exit: waits for the threads that ran Python, then finalizes the interpreter.</summary>
    private static void FinalizeAtExit()
    {
        ExitingSource.Cancel();
        if (s_threadsLeftInApps)
        {
            return;
        }

        Thread[] threads;
        lock (PythonThreads)
        {
            threads = [.. PythonThreads];
        }

        // Short: the host has stopped and its pool has joined its threads, so one still alive is stuck in an app, and
        // waiting longer would only stretch the stop past the host's shutdown timeout (issue 19, item 5).
        var deadline = DateTime.UtcNow + TimeSpan.FromMilliseconds(200);
        foreach (var thread in threads)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || !thread.Join(left))
            {
                // A thread is still inside Python: finalizing under it could crash; the OS reclaims everything.
                return;
            }
        }

        Stop.Set();

        // Bounded: finalizing waits for the app's own non-daemon Python threads, which may never end.
        s_owner?.Join(TimeSpan.FromSeconds(10));
    }
}
