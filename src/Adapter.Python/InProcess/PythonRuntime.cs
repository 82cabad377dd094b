using System.Reflection;
using Python.Runtime;

namespace Adapter;

/// <summary>
/// The process's one CPython interpreter. It starts with the first <see cref="PythonGateway"/>, on a thread
/// of its own that keeps the main thread state, and is finalized on that thread when the process exits.
/// </summary>
/// <remarks>
/// CPython cannot be started again in a process once finalized (pythonnet 3.2 on .NET fails in
/// <c>Initialize</c> after <c>Shutdown</c>), so a host that stops does not finalize it: the Python worker
/// pool joins every thread that ran Python, and the interpreter is finalized at process exit, after
/// those threads are gone. A thread still inside Python then (a stuck app) keeps it from being
/// finalized, so exit never hangs on it.
/// </remarks>
internal static class PythonRuntime
{
    private static readonly Lock Gate = new();
    private static readonly List<Thread> PythonThreads = [];
    private static readonly ManualResetEventSlim Stop = new();
    private static readonly CancellationTokenSource ExitingSource = new();
    private static Thread? s_owner;
    private static PyObject? s_bridge;
    private static PyObject? s_run;
    private static PyObject? s_load;
    private static EventHandler? s_pythonnetExit;
    private static volatile bool s_threadsLeftInApps;

    /// <summary>The libpython the interpreter was loaded from.</summary>
    public static string? Library { get; private set; }

    /// <summary>Python's <c>sys.version</c>.</summary>
    public static string? Version { get; private set; }

    /// <summary>The bridge module (<c>adapter_bridge.py</c>); use it with the GIL held.</summary>
    public static PyObject Bridge => s_bridge ?? throw new InvalidOperationException("CPython is not started.");

    /// <summary>
    /// Canceled as the process exits, before the interpreter is finalized: a thread that calls into Python on its own
    /// (not for a request) ends then, and is registered (<see cref="RegisterThread"/>) so that finalizing waits for it.
    /// </summary>
    public static CancellationToken Exiting => ExitingSource.Token;

    /// <summary>For messages: the interpreter running in-process, <c>Python 3.11.2 (/usr/bin/python3)</c>.</summary>
    public static string? Description { get; private set; }

    /// <summary>The bridge's <c>run(app, environ, call)</c>.</summary>
    public static PyObject Run => s_run ?? throw new InvalidOperationException("CPython is not started.");

    /// <summary>The bridge's <c>load(target)</c>: (app, None), or (None, what went wrong).</summary>
    public static PyObject LoadApp => s_load ?? throw new InvalidOperationException("CPython is not started.");

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

        using (Py.GIL())
        {
            using var sys = Py.Import("sys");
            using var path = new PyList(sys.GetAttr("path"));
            var present = path.Select(static item => item.ToString()).ToHashSet(StringComparer.Ordinal);
            foreach (var entry in paths.Reverse())
            {
                var full = Path.GetFullPath(entry);
                if (present.Add(full))
                {
                    using var index = new PyInt(0);
                    using var item = new PyString(full);
                    path.InvokeMethod("insert", index, item).Dispose();
                }
            }
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

    private static void Start(string library, PythonInterpreter? interpreter)
    {
        Exception? failure = null;
        using var ready = new ManualResetEventSlim();
        var owner = new Thread(() =>
        {
            nint mainState;
            try
            {
                Runtime.PythonDLL = library;
                PythonNative.Load(library);
                if (interpreter is not null)
                {
                    // CPython finds its prefix, its site-packages (a virtualenv's pyvenv.cfg included) and sys.executable
                    // from the program name: the interpreter's own, so the apps see what that python3 sees.
                    PythonEngine.ProgramName = interpreter.Executable;
                }

                // Before CPython opens its sys.stdout and sys.stderr over fd 1 and 2.
                PythonStdio.Capture(PythonDispatch.Instance.Log);
                PythonEngine.Initialize();
                LoadBridge();
                using (var sys = Py.Import("sys"))
                {
                    Version = sys.GetAttr("version").ToString();
                    Description = interpreter?.Description ?? $"Python {Version?.Split(' ')[0]} ({sys.GetAttr("executable")}, from {library})";
                }

                mainState = PythonEngine.BeginAllowThreads();
            }
            catch (Exception ex)
            {
                failure = ex;
                ready.Set();
                return;
            }

            ready.Set();
            Stop.Wait();
            PythonEngine.EndAllowThreads(mainState);
            s_run?.Dispose();
            s_load?.Dispose();
            s_bridge?.Dispose();
            PythonEngine.Shutdown();

            // pythonnet let go of the GIL; this thread's state is the interpreter's main one, which finalizing needs.
            PythonNative.EnsureGil();
            PythonNative.FinalizeInterpreter();
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
        DetachPythonnetExitHandler();
        AppDomain.CurrentDomain.ProcessExit += static (_, _) => FinalizeAtExit();
    }

    /// <summary>
    /// pythonnet shuts CPython down from its own process-exit handler, on the exiting thread, whether or not other
    /// threads are still inside Python: with apps spinning there, that swaps thread states under them and CPython
    /// aborts ("Fatal Python error: eval_frame_handle_pending: tstate mix-up"). The adapter's own handler
    /// (<see cref="FinalizeAtExit"/>) shuts down only once every thread that ran Python has ended, so pythonnet's is
    /// taken off. pythonnet exposes no switch for it: the handler is found by name.
    /// </summary>
    private static void DetachPythonnetExitHandler()
    {
        foreach (var type in typeof(PythonEngine).Assembly.GetTypes())
        {
            var method = type.GetMethod("OnProcessExit", BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.Static, [typeof(object), typeof(EventArgs)]);
            if (method is not null)
            {
                var handler = (EventHandler)Delegate.CreateDelegate(typeof(EventHandler), method);
                AppDomain.CurrentDomain.ProcessExit -= handler;
                s_pythonnetExit = handler;
            }
        }
    }

    private static void LoadBridge()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("adapter_bridge.py")
            ?? throw new InvalidOperationException("The adapter_bridge.py resource is missing.");
        using var reader = new StreamReader(stream);
        var source = reader.ReadToEnd();
        // Named, so its frames in a traceback say where they are (File "none" otherwise).
        s_bridge = PyModule.FromString("adapter_bridge", source, "adapter_bridge.py");
        s_run = s_bridge.GetAttr("run");
        s_load = s_bridge.GetAttr("load");
        using var dispatch = PyObject.FromManagedObject(PythonDispatch.Instance);
        s_bridge.InvokeMethod("attach", dispatch).Dispose();
        using var log = dispatch.GetAttr("Log");
        s_bridge.InvokeMethod("capture_output", log).Dispose();
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

        // Every thread that ran Python has ended: pythonnet's own exit work is safe now, in the order it had.
        s_pythonnetExit?.Invoke(null, EventArgs.Empty);
        Stop.Set();

        // Bounded: finalizing waits for the app's own non-daemon Python threads, which may never end.
        s_owner?.Join(TimeSpan.FromSeconds(10));
    }
}
