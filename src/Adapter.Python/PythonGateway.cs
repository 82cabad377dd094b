using System.Diagnostics.Metrics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Adapter;

/// <summary>
/// Loads Python WSGI applications and hands them out as <see cref="GatewayApp"/>s, to mount with
/// <c>MapGatewayApp</c> or <c>UseGatewayApp</c> beside C# endpoints.
/// </summary>
/// <remarks>
/// <para>
/// Processes mode (<see cref="PythonGatewayOptions.Processes"/> ≥ 1, the default): the apps run in worker
/// processes of the system's Python, one request at a time each, gunicorn's model. A worker silent past the
/// request timeout is killed and replaced, one that crashes is replaced (its request answered 502), one past
/// <see cref="PythonGatewayOptions.MaxRequests"/> is recycled, and <see cref="ReloadAsync"/> (or SIGHUP) swaps
/// in fresh workers without failing a request. The workers stop after the host has finished its requests.
/// </para>
/// <para>
/// In-process mode (<c>Processes = 0</c>): CPython starts with the first gateway and serves the whole process.
/// Apps run on a worker pool of their own (<see cref="PythonGatewayOptions.Threads"/>), each thread keeping its
/// own Python thread state; Python runs only with the GIL held, and the GIL is let go whenever the adapter waits
/// on the network. The interpreter is finalized when the process exits.
/// </para>
/// </remarks>
public sealed class PythonGateway : IDisposable
{
    private readonly ILogger _logger;
    private readonly GatewayWorkerPool _pool;
    private readonly PythonWorkerSupervisor? _supervisor;
    private readonly PythonWorkerMetrics? _metrics;
    private readonly PythonInterrupter? _interrupter;

    /// <summary>
    /// In processes mode, prepares the worker processes (they start with the first <see cref="Load"/>); in-process,
    /// starts CPython if it is not running yet and puts <see cref="PythonGatewayOptions.Paths"/> on <c>sys.path</c>.
    /// </summary>
    /// <param name="options">The mode, where Python and the apps are, and how many processes or threads run them.</param>
    /// <param name="loggerFactory">For the gateway's own lines and the apps' output.</param>
    /// <param name="gatewayOptions">The queue limit and request timeout of the Python apps' worker pool.</param>
    /// <param name="lifetime">Stops the pool and the worker processes with the host.</param>
    /// <param name="meterFactory">For the pool's metrics (meter <c>Adapter</c>, tag <c>gateway.pool=python</c>).</param>
    /// <param name="hostOptions">The host's shutdown timeout, which joining the Python worker threads keeps within.</param>
    /// <param name="environment">Relative <see cref="PythonGatewayOptions.Paths"/> are taken from its content root.</param>
    /// <exception cref="PythonUnavailableException">In-process: no libpython was found, or it failed to start.</exception>
    public PythonGateway(
        IOptions<PythonGatewayOptions> options,
        ILoggerFactory loggerFactory,
        IOptions<GatewayOptions>? gatewayOptions = null,
        IHostApplicationLifetime? lifetime = null,
        IMeterFactory? meterFactory = null,
        IOptions<HostOptions>? hostOptions = null,
        IHostEnvironment? environment = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        _logger = loggerFactory.CreateLogger(PythonGatewayLog.CategoryName);
        var value = options.Value;
        if (value.Threads < 1 || value.ProcessThreads < 1 || value.Processes < 0 || value.MaxRequests < 0 || value.MaxRequestsJitter < 0)
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(PythonGatewayOptions),
                [$"PythonGatewayOptions needs Threads >= 1 (not {value.Threads}), ProcessThreads >= 1 (not {value.ProcessThreads}), Processes >= 0 (not {value.Processes}), MaxRequests >= 0 and MaxRequestsJitter >= 0."]);
        }

        var root = environment?.ContentRootPath;
        var resolved = new PythonGatewayOptions
        {
            Processes = value.Processes,
            PythonExecutable = value.PythonExecutable,
            MaxRequests = value.MaxRequests,
            MaxRequestsJitter = value.MaxRequestsJitter,
            StartTimeout = value.StartTimeout,
            PythonLibrary = value.PythonLibrary,
            Threads = value.Threads,
            ProcessThreads = value.ProcessThreads,
        };
        foreach (var path in value.Paths)
        {
            resolved.Paths.Add(Resolve(path, root));
        }

        var shared = gatewayOptions?.Value ?? new GatewayOptions();
        if (resolved.Processes == 0)
        {
            PythonDispatch.Loggers = loggerFactory;
            PythonThreadPoolSpin.UseDefaultForInProcess(_logger);
            if (PythonRuntime.EnsureStarted(resolved.PythonLibrary, resolved.PythonExecutable, resolved.Paths))
            {
                PythonGatewayLog.Started(_logger, PythonRuntime.Version, PythonRuntime.Library);
            }
        }

        var poolOptions = new GatewayOptions
        {
            // A worker process serves ProcessThreads requests at once, one per channel: a pool thread for each.
            WorkerThreads = resolved.Processes == 0 ? resolved.Threads : resolved.Processes * resolved.ProcessThreads,
            QueueLimit = shared.QueueLimit,
            RequestTimeout = shared.RequestTimeout,
            ResponseBufferSize = shared.ResponseBufferSize,
            RequestBufferSize = shared.RequestBufferSize,
            ResponseSpoolLimit = shared.ResponseSpoolLimit,
            RequestSpoolLimit = shared.RequestSpoolLimit,
            SpoolDiskBudget = shared.SpoolDiskBudget,
            SpoolDirectory = shared.SpoolDirectory,
            ClientTimeout = shared.ClientTimeout,
        };
        if (resolved.Processes == 0 && shared.RequestTimeout != Timeout.InfiniteTimeSpan)
        {
            // A stuck in-process app is interrupted at the timeout, so its thread comes back (a worker process is killed instead).
            _interrupter = new PythonInterrupter(shared.RequestTimeout, _logger);
        }

        _pool = new GatewayWorkerPool(poolOptions, loggerFactory, lifetime, meterFactory, "python", hostOptions?.Value.ShutdownTimeout, _interrupter);
        if (resolved.Processes > 0)
        {
            _metrics = new PythonWorkerMetrics(meterFactory);
            // One thread per worker process: a count changed by SIGTTIN/SIGTTOU changes the threads too.
            var pool = _pool;
            _supervisor = new PythonWorkerSupervisor(resolved, shared.RequestTimeout, loggerFactory, _metrics, count => pool.WorkerLimit = count * resolved.ProcessThreads);

            // At the host's shutdown timeout the workers still in a request are killed, so the server's stop ends then
            // (gunicorn's graceful timeout); the rest stop after the server has finished its requests, not before.
            var supervisor = _supervisor;
            _pool.ShutdownDeadlineReached += supervisor.EndRequests;
            lifetime?.ApplicationStopped.Register(_supervisor.Dispose);
        }
    }

    /// <summary>
    /// A relative <see cref="PythonGatewayOptions.Paths"/> entry: from the content root when it is there (the project
    /// folder under <c>dotnet run</c>), else from the app's own folder, where <c>CopyToOutputDirectory</c> puts the
    /// <c>.py</c> files of a published app started from elsewhere.
    /// </summary>
    internal static string Resolve(string path, string? contentRoot)
    {
        if (Path.IsPathRooted(path))
        {
            return path;
        }

        var fromRoot = Path.GetFullPath(path, string.IsNullOrEmpty(contentRoot) ? Directory.GetCurrentDirectory() : contentRoot);
        var fromApp = Path.GetFullPath(path, AppContext.BaseDirectory);
        return Directory.Exists(fromRoot) || !Directory.Exists(fromApp) ? fromRoot : fromApp;
    }

    /// <summary>
    /// The gateway's health: unhealthy when no thread (in-process) or no worker process can take a request, degraded
    /// when some are stuck in an app past the request timeout (or, in processes mode, not ready yet), healthy otherwise.
    /// </summary>
    internal (bool Healthy, bool Degraded, string Description) Health()
    {
        var (available, stuckThreads) = _pool.Capacity();
        var threads = _pool.Options.WorkerThreads;
        if (_supervisor is null)
        {
            return available == 0
                ? (false, false, $"All {threads} in-process Python threads are stuck in apps past the request timeout; requests wait and time out.")
                : stuckThreads > 0
                    ? (true, true, $"{stuckThreads} in-process Python thread(s) stuck in an app past the request timeout; {available} of {threads} can take requests.")
                    : (true, false, $"CPython {PythonRuntime.Version} runs in-process; {threads} threads can take requests.");
        }

        var (ready, stuck, target, loaded) = _supervisor.Readiness();
        if (!loaded)
        {
            return (true, false, "No Python app is loaded yet.");
        }

        var stuckText = stuck > 0 ? $"; {stuck} stuck in an app past the request timeout" : "";
        if (ready == 0)
        {
            return (false, false, $"No Python worker process can take a request (0 of {target} ready{stuckText}).");
        }

        if (available == 0)
        {
            return (false, false, $"All {threads} threads that serve the Python worker processes are stuck past the request timeout.");
        }

        // A stuck worker is degraded even once its replacement is ready: it is being killed, its request was lost.
        return (true, ready < target || stuck > 0 || stuckThreads > 0, $"{ready} of {target} Python worker processes can take requests{stuckText}.");
    }

    /// <summary>
    /// gunicorn's SIGTTIN (<paramref name="delta"/> +1) and SIGTTOU (-1): one worker process more or fewer, never fewer
    /// than one. Completes with the new target count; null in-process, where there are no worker processes.
    /// </summary>
    internal Task<int>? ChangeWorkerCountAsync(int delta) => _supervisor?.ScaleAsync(delta);

    /// <summary>The pool of gateway worker threads for in-process apps (worker-process requests take none of its threads).</summary>
    internal GatewayWorkerPool Pool => _pool;

    /// <summary>Requests waiting for a free worker process (0 in-process).</summary>
    internal int WaitingForWorker => _supervisor?.Waiting ?? 0;

    /// <summary>True when apps run in worker processes (<see cref="PythonGatewayOptions.Processes"/> ≥ 1).</summary>
    public bool UsesProcesses => _supervisor is not null;

    /// <summary>Stops the Python worker threads and processes (the host does this when it stops); in-process CPython ends with the process.</summary>
    public void Dispose()
    {
        _pool.Dispose();
        _interrupter?.Dispose();
        if (_supervisor is null && _pool.BusyCount > 0)
        {
            // Threads stuck in apps past the host's shutdown timeout: the process exits without waiting for them.
            PythonRuntime.ThreadsLeftInApps();
        }

        _supervisor?.Dispose();
        _metrics?.Dispose();
    }

    /// <summary>
    /// Processes mode: starts fresh worker processes that import every loaded app anew, sends new requests to
    /// them once all are ready, and stops the old ones as their current requests end (gunicorn's SIGHUP). If a
    /// fresh worker fails to import an app, the old ones keep serving and the task fails with Python's traceback.
    /// </summary>
    /// <exception cref="InvalidOperationException">The apps run in-process (<c>Processes = 0</c>), which cannot reload.</exception>
    public Task ReloadAsync() =>
        _supervisor?.ReloadAsync()
        ?? throw new InvalidOperationException("Python apps run in-process (PythonGatewayOptions.Processes = 0); only worker processes can be reloaded.");

    /// <summary>
    /// Imports a WSGI callable named gunicorn-style: <c>"module:callable"</c> (for example <c>"hello_flask:app"</c>),
    /// <c>"module"</c> alone for its <c>application</c>, or a factory called with literal arguments,
    /// <c>"module:create_app('production')"</c>. In processes mode the workers import it (starting them if needed).
    /// </summary>
    /// <param name="target">A module importable from <c>sys.path</c>, a colon, and an attribute path in it (dots allowed), or a call of one.</param>
    /// <returns>The app, ready to mount.</returns>
    /// <exception cref="ArgumentException"><paramref name="target"/> is not of the form <c>module:callable</c>.</exception>
    /// <exception cref="InvalidOperationException">The module cannot be imported (the message holds the traceback and <c>sys.path</c>), or the attribute is missing or not callable.</exception>
    public GatewayApp Load(string target)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(target);
        var colon = target.IndexOf(':');
        if (colon == 0 || colon == target.Length - 1)
        {
            throw new ArgumentException($"'{target}' is not of the form \"module:callable\".", nameof(target));
        }

        if (_supervisor is not null)
        {
            var index = _supervisor.Load(target);
            PythonGatewayLog.Loaded(_logger, target);
            return new PythonProcessApp(_supervisor, index, target, _pool).Invoke;
        }

        nint app;
        using (PythonGil.Take())
        {
            var name = CPython.Str(target);
            var result = PythonRuntime.CallBridge("load\0"u8, name);
            CPython.DecRef(name);
            if (result == 0)
            {
                throw PythonError.Fetch();
            }

            try
            {
                var failure = CPython.TupleItem(result, 1);
                if (failure != CPython.None)
                {
                    throw new InvalidOperationException(
                        $"Cannot load '{target}' in {PythonRuntime.Description} (another interpreter: {PythonInterpreter.Setting}): {CPython.ToText(failure)}");
                }

                // Kept for the process's life: the app is mounted until the host stops, and CPython outlives the host.
                app = CPython.TupleItem(result, 0);
                CPython.IncRef(app);
            }
            finally
            {
                CPython.DecRef(result);
            }
        }

        PythonGatewayLog.Loaded(_logger, target);
        return new PythonApp(app, target, _pool).Invoke;
    }
}
