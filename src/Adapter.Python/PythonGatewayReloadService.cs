using System.Runtime.InteropServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Adapter;

/// <summary>
/// Reloads the Python worker processes on SIGHUP (gunicorn's signal; without this the runtime's default ends the
/// host), and whenever a <c>.py</c> file under <see cref="PythonGatewayOptions.Paths"/> changes when
/// <see cref="PythonGatewayOptions.ReloadOnChange"/> says so (by default in the Development environment; gunicorn's <c>--reload</c>).
/// </summary>
internal sealed class PythonGatewayReloadService(
    IServiceProvider services, IHostEnvironment environment, IOptions<PythonGatewayOptions> options, ILoggerFactory loggerFactory) : IHostedService, IDisposable
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(300);

    private readonly ILogger _logger = loggerFactory.CreateLogger(PythonGatewayLog.CategoryName);
    private readonly List<FileSystemWatcher> _watchers = [];
    private PosixSignalRegistration? _hangUp;
    private Timer? _debounce;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!OperatingSystem.IsWindows())
        {
            // Also when started with SIGHUP ignored (nohup): PosixSignals takes it back from SIG_IGN first.
            _hangUp = PosixSignals.Register(PosixSignal.SIGHUP, context =>
            {
                context.Cancel = true;
                Reload("SIGHUP");
            });
        }

        if ((options.Value.ReloadOnChange ?? environment.IsDevelopment()) && options.Value.Processes > 0)
        {
            // Saving a file often writes it several times: one reload once the writes have been quiet a moment.
            _debounce = new Timer(static state => ((PythonGatewayReloadService)state!).Reload("a .py file changed"), this, Timeout.Infinite, Timeout.Infinite);
            foreach (var path in options.Value.Paths)
            {
                var full = PythonGateway.Resolve(path, environment.ContentRootPath);
                if (!Directory.Exists(full))
                {
                    continue;
                }

                var watcher = new FileSystemWatcher(full, "*.py")
                {
                    IncludeSubdirectories = true,
                    NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.Size,
                };
                FileSystemEventHandler changed = (_, _) => _debounce.Change(Quiet, Timeout.InfiniteTimeSpan);
                watcher.Changed += changed;
                watcher.Created += changed;
                watcher.Deleted += changed;
                watcher.Renamed += (_, _) => _debounce.Change(Quiet, Timeout.InfiniteTimeSpan);
                watcher.EnableRaisingEvents = true;
                lock (_watchers)
                {
                    _watchers.Add(watcher);
                }
            }
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        // Both the host's StopAsync and the container call this, and under WebApplicationFactory two StopAsync calls
        // can run at once (the factory's and the app's own Run): each watcher is taken out once, under the lock.
        Interlocked.Exchange(ref _hangUp, null)?.Dispose();
        FileSystemWatcher[] watchers;
        lock (_watchers)
        {
            watchers = [.. _watchers];
            _watchers.Clear();
        }

        foreach (var watcher in watchers)
        {
            watcher.Dispose();
        }

        _debounce?.Dispose();
    }

    private void Reload(string source)
    {
        PythonGateway gateway;
        try
        {
            gateway = services.GetRequiredService<PythonGateway>();
        }
        catch (Exception ex)
        {
            PythonGatewayLog.ReloadFailed(_logger, ex);
            return;
        }

        if (!gateway.UsesProcesses)
        {
            PythonGatewayLog.ReloadIgnored(_logger, source);
            return;
        }

        PythonGatewayLog.ReloadRequested(_logger, source);
        gateway.ReloadAsync().ContinueWith(
            static (task, state) => PythonGatewayLog.ReloadFailed((ILogger)state!, task.Exception!.GetBaseException()),
            _logger,
            CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted,
            TaskScheduler.Default);
    }
}
