using System.Diagnostics.Metrics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Python.Runtime;

namespace Adapter;

/// <summary>
/// Loads Python WSGI applications into the process's CPython and hands them out as <see cref="GatewayApp"/>s,
/// to mount with <c>MapGatewayApp</c> or <c>UseGatewayApp</c> beside C# endpoints.
/// </summary>
/// <remarks>
/// CPython starts with the first gateway and serves the whole process. Apps run on a worker pool of their
/// own (<see cref="PythonGatewayOptions.Threads"/>), each thread keeping its own Python thread state; Python
/// runs only with the GIL held, and the GIL is let go whenever the adapter waits on the network. The pool
/// joins its threads when the host stops; the interpreter is finalized when the process exits.
/// </remarks>
public sealed class PythonGateway : IDisposable
{
    private readonly ILogger _logger;
    private readonly GatewayWorkerPool _pool;

    /// <summary>Starts CPython if it is not running yet and puts <see cref="PythonGatewayOptions.Paths"/> on <c>sys.path</c>.</summary>
    /// <param name="options">Where libpython and the apps are, and how many threads run them.</param>
    /// <param name="loggerFactory">For the start-up line and the apps' log lines.</param>
    /// <param name="gatewayOptions">The queue limit and request timeout of the Python apps' worker pool.</param>
    /// <param name="lifetime">Stops and joins the Python worker threads with the host.</param>
    /// <param name="meterFactory">For the pool's metrics (meter <c>Adapter</c>, tag <c>gateway.pool=python</c>).</param>
    /// <param name="hostOptions">The host's shutdown timeout, which joining the Python worker threads keeps within.</param>
    /// <exception cref="PythonUnavailableException">No libpython was found, or it failed to start.</exception>
    public PythonGateway(
        IOptions<PythonGatewayOptions> options,
        ILoggerFactory loggerFactory,
        IOptions<GatewayOptions>? gatewayOptions = null,
        IHostApplicationLifetime? lifetime = null,
        IMeterFactory? meterFactory = null,
        IOptions<HostOptions>? hostOptions = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        _logger = loggerFactory.CreateLogger(PythonGatewayLog.CategoryName);
        var value = options.Value;
        if (value.Threads < 1)
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(PythonGatewayOptions), [$"PythonGatewayOptions.Threads must be at least 1, not {value.Threads}."]);
        }

        if (PythonRuntime.EnsureStarted(value.PythonLibrary, value.Paths))
        {
            PythonGatewayLog.Started(_logger, PythonRuntime.Version, PythonRuntime.Library);
        }

        var shared = gatewayOptions?.Value ?? new GatewayOptions();
        var poolOptions = new GatewayOptions
        {
            WorkerThreads = value.Threads,
            QueueLimit = shared.QueueLimit,
            RequestTimeout = shared.RequestTimeout,
            ResponseBufferSize = shared.ResponseBufferSize,
            RequestBufferSize = shared.RequestBufferSize,
        };
        _pool = new GatewayWorkerPool(poolOptions, loggerFactory, lifetime, meterFactory, "python", hostOptions?.Value.ShutdownTimeout);
    }

    /// <summary>Stops and joins the Python worker threads (the host does this when it stops); CPython itself ends with the process.</summary>
    public void Dispose() => _pool.Dispose();

    /// <summary>Imports a WSGI callable named gunicorn-style, <c>"module:callable"</c> (for example <c>"hello_flask:app"</c>).</summary>
    /// <param name="target">A module importable from <c>sys.path</c>, a colon, and an attribute path in it (dots allowed).</param>
    /// <returns>The app, ready to mount.</returns>
    /// <exception cref="ArgumentException"><paramref name="target"/> is not of the form <c>module:callable</c>.</exception>
    /// <exception cref="InvalidOperationException">The module cannot be imported, or the attribute is missing or not callable.</exception>
    public GatewayApp Load(string target)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(target);
        var colon = target.IndexOf(':');
        var moduleName = colon < 0 ? target : target[..colon];
        var attributePath = colon < 0 ? "application" : target[(colon + 1)..];
        if (moduleName.Length == 0 || attributePath.Length == 0)
        {
            throw new ArgumentException($"'{target}' is not of the form \"module:callable\".", nameof(target));
        }

        PyObject app;
        using (Py.GIL())
        {
            PyObject current;
            try
            {
                current = Py.Import(moduleName);
            }
            catch (PythonException ex)
            {
                throw new InvalidOperationException(
                    $"Cannot load '{target}': importing module '{moduleName}' raised {ex.Type.Name}: {ex.Message}", PythonAppException.From(ex, target));
            }

            foreach (var name in attributePath.Split('.'))
            {
                using var parent = current;
                if (!parent.HasAttr(name))
                {
                    throw new InvalidOperationException($"Cannot load '{target}': module '{moduleName}' has no attribute '{attributePath}'.");
                }

                current = parent.GetAttr(name);
            }

            if (!current.IsCallable())
            {
                current.Dispose();
                throw new InvalidOperationException($"Cannot load '{target}': '{attributePath}' is not callable.");
            }

            app = current;
        }

        PythonGatewayLog.Loaded(_logger, target);
        return new PythonApp(app, target, _pool).Invoke;
    }
}
