using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Adapter.Cli;

/// <summary>
/// gunicorn's signals, beyond SIGTERM (the host's lifetime) and SIGHUP (reload, <c>AddPythonGateway</c>'s own): TTIN and
/// TTOU add and remove one worker process, USR1 reopens the log files (logrotate's <c>postrotate</c>), USR2 and WINCH are
/// logged and ignored, INT and QUIT stop the host (also under systemd, whose lifetime listens for SIGTERM alone). None
/// of them ends the process abruptly, as the runtime's default action for USR1 and USR2 did.
/// </summary>
internal sealed class GatewaySignals(IServiceProvider services, IHostApplicationLifetime lifetime, ILoggerFactory loggerFactory) : IHostedService, IDisposable
{
    private readonly ILogger _logger = loggerFactory.CreateLogger(CliLog.CategoryName);
    private readonly List<PosixSignalRegistration> _registrations = [];

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!OperatingSystem.IsLinux())
        {
            // USR1 and USR2 are known here by their Linux numbers.
            return Task.CompletedTask;
        }

        Register(PosixSignal.SIGTTIN, () => ChangeWorkerCount(+1, "SIGTTIN"));
        Register(PosixSignal.SIGTTOU, () => ChangeWorkerCount(-1, "SIGTTOU"));
        Register((PosixSignal)PosixSignals.UserDefined1, ReopenLogFiles);
        Register((PosixSignal)PosixSignals.UserDefined2, () => CliLog.SignalIgnored(_logger, "SIGUSR2", "restart the service to run a new version"));
        Register(PosixSignal.SIGWINCH, () => CliLog.WindowChangeIgnored(_logger));
        Register(PosixSignal.SIGINT, lifetime.StopApplication);
        Register(PosixSignal.SIGQUIT, lifetime.StopApplication);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        lock (_registrations)
        {
            foreach (var registration in _registrations)
            {
                registration.Dispose();
            }

            _registrations.Clear();
        }
    }

    [UnsupportedOSPlatform("windows")]
    private void Register(PosixSignal signal, Action handle)
    {
        var registration = PosixSignals.Register(signal, context =>
        {
            // Handled: the runtime's default action (ending the process, for USR1 and USR2) is not taken.
            context.Cancel = true;
            handle();
        });
        lock (_registrations)
        {
            _registrations.Add(registration);
        }
    }

    private void ChangeWorkerCount(int delta, string signal)
    {
        // Only the supervisor's loop changes the workers: the signal enqueues the change and returns.
        if (services.GetRequiredService<PythonGateway>().ChangeWorkerCountAsync(delta) is null)
        {
            CliLog.SignalIgnored(_logger, signal, "the apps run in-process (--workers 0), with no worker processes to add or remove");
        }
    }

    private void ReopenLogFiles()
    {
        var files = services.GetServices<LogFile>().ToArray();
        foreach (var file in files)
        {
            try
            {
                file.Reopen();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                CliLog.ReopenFailed(_logger, file.Path, ex);
            }
        }

        CliLog.LogFilesReopened(_logger, files.Length);
    }
}
