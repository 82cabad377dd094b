namespace Adapter;

/// <summary>Options of the Python bridge; bound from the <c>PythonGateway</c> configuration section by <c>AddPythonGateway</c>.</summary>
public sealed class PythonGatewayOptions
{
    /// <summary>
    /// How Python apps run. N ≥ 1: in N worker processes of the system's Python, gunicorn's model (every core
    /// used, a stuck worker killed, workers recycled and reloaded). 0: in one CPython inside the host, through
    /// the adapter's binding of CPython's C API (the lowest latency, one core for Python, nothing can be killed). Default: the number of processors.
    /// </summary>
    public int Processes { get; set; } = Environment.ProcessorCount;

    /// <summary>
    /// Apps that <c>MapPythonApps()</c> mounts, by prefix: <c>"/"</c> for the root, <c>"/admin"</c> for a mount (its
    /// SCRIPT_NAME), each a target as <see cref="PythonGateway.Load"/> takes it. From configuration:
    /// <c>"PythonGateway": { "Apps": { "/": "hello:app", "/admin": "mysite.wsgi:application" } }</c>.
    /// </summary>
    public IDictionary<string, string> Apps { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>
    /// The Python interpreter, in both modes: the worker processes run it, and in-process mode loads its own libpython
    /// (found through its <c>sysconfig</c>) unless <see cref="PythonLibrary"/> or <c>PYTHONNET_PYDLL</c> names one, so
    /// the apps see its <c>sys.path</c> and <c>sys.executable</c> either way. Default: the active virtualenv's
    /// (<c>$VIRTUAL_ENV/bin/python</c>), else <c>python3</c> from <c>PATH</c>.
    /// </summary>
    public string PythonExecutable { get; set; } = PythonInterpreter.DefaultExecutable();

    /// <summary>
    /// Processes mode: reload the workers when a <c>.py</c> file under <see cref="Paths"/> changes (gunicorn's
    /// <c>--reload</c>). Null (the default): only in the Development environment.
    /// </summary>
    public bool? ReloadOnChange { get; set; }

    /// <summary>Processes mode: a worker is replaced after this many requests; 0 never replaces it.</summary>
    public int MaxRequests { get; set; }

    /// <summary>Processes mode: each worker's limit gets a random 0 to this many extra requests, so workers do not recycle together.</summary>
    public int MaxRequestsJitter { get; set; }

    /// <summary>Processes mode: how long a new worker may take to start and import every loaded app. Default: 60 s.</summary>
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// In-process mode: the path of libpython (for example <c>/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0</c>).
    /// When null, <c>PYTHONNET_PYDLL</c> is used, else the libpython of <see cref="PythonExecutable"/>.
    /// </summary>
    public string? PythonLibrary { get; set; }

    /// <summary>
    /// Directories put at the front of <c>sys.path</c>, in this order, before any app is loaded. A relative
    /// entry is taken from the host's content root, or, when it is not there, from the app's own folder
    /// (<see cref="AppContext.BaseDirectory"/>, where <c>CopyToOutputDirectory</c> puts <c>.py</c> files).
    /// </summary>
    public IList<string> Paths { get; } = [];

    /// <summary>
    /// In-process mode: the worker threads that run Python apps, a pool apart from the C# apps' (queue limit and
    /// request timeout come from <see cref="GatewayOptions"/>). Python runs one thread at a time under the GIL,
    /// and more threads waiting for it cost more than they bring (measured on the sample's Flask hello: 11.1k
    /// requests/s with 2 threads, 8.6k with 4, 7.5k with 16); raise it for apps that wait on I/O. Default: 2.
    /// In processes mode see <see cref="ProcessThreads"/>.
    /// </summary>
    public int Threads { get; set; } = 2;

    /// <summary>
    /// Processes mode: requests each worker process serves at once, gunicorn's gthread worker (<c>--threads</c>): the
    /// worker has this many channels to the host, each served by a thread of its own, and its apps see
    /// <c>wsgi.multithread</c> True when it is more than 1. The host's pool for the Python apps holds
    /// <see cref="Processes"/> × this many threads. Default: 1.
    /// </summary>
    public int ProcessThreads { get; set; } = 1;
}
