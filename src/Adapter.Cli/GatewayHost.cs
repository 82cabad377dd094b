using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.HttpLogging;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.EnvironmentVariables;
using Microsoft.Extensions.Configuration.Json;
using Microsoft.Extensions.Configuration.Memory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace Adapter.Cli;

/// <summary>
/// Builds the host the way a config-only C# host is built (<c>WebApplication.CreateBuilder</c>, <c>AddPythonGateway()</c>,
/// <c>MapPythonApps()</c>), with the flags as configuration added last, and runs it until SIGTERM or SIGINT.
/// </summary>
internal static class GatewayHost
{
    public static async Task<int> RunAsync(GatewaySettings settings, TextWriter output, TextWriter error)
    {
        AccessLogLoggerProvider? accessLog = null;
        WebApplication? app = null;
        int code;
        string? failure = null;

        // Taken from where the command was started, before --chdir.
        var pidFile = settings.PidFile is { } pid ? Path.GetFullPath(pid) : null;
        try
        {
            (app, accessLog) = Build(settings);
            (code, failure) = await ServeAsync(app, settings, output, pidFile);
        }
        catch (UsageException ex)
        {
            (code, failure) = (ExitCodes.Usage, ex.Message);
        }
        catch (BindFailedException ex)
        {
            (code, failure) = (ExitCodes.Failure, ex.Message);
        }
        finally
        {
            if (app is not null)
            {
                // Stops the Python workers and flushes the log before the last line is written.
                await app.DisposeAsync();
            }

            accessLog?.Dispose();
            if (pidFile is not null && File.Exists(pidFile) && File.ReadAllText(pidFile).Trim() == Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture))
            {
                File.Delete(pidFile);
            }
        }

        if (failure is not null)
        {
            await error.WriteLineAsync($"gateway: {GatewayCommand.OneLine(failure)}");
        }

        return code;
    }

    private static (WebApplication App, AccessLogLoggerProvider? AccessLog) Build(GatewaySettings settings)
    {
        // Files named on the command line are taken from where the command was started, before --chdir.
        var configFile = settings.ConfigFile is { } c ? Path.GetFullPath(c) : null;
        var accessLogFile = settings.AccessLogFile is { } a and not "-" ? Path.GetFullPath(a) : settings.AccessLogFile;
        var errorLogFile = settings.ErrorLogFile is { } e and not "-" ? Path.GetFullPath(e) : null;
        var certificate = settings.CertFile is { } cert ? GatewayListeners.LoadCertificate(Path.GetFullPath(cert), Path.GetFullPath(settings.KeyFile!)) : null;
        if (settings.Chdir is { } directory)
        {
            try
            {
                Directory.SetCurrentDirectory(directory);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
            {
                throw new UsageException($"--chdir: cannot change to '{directory}': {ex.Message}");
            }
        }

        foreach (var pair in settings.Environment)
        {
            // gunicorn's raw_env: the Python workers inherit it, and in-process Python reads it when it starts.
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            Environment.SetEnvironmentVariable(pair[..equals], pair[(equals + 1)..]);
        }

        var root = Directory.GetCurrentDirectory();
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [], ContentRootPath = root });
        builder.Configuration.Sources.Insert(0, new MemoryConfigurationSource { InitialData = GatewayConfiguration.Defaults(Environment.GetEnvironmentVariable) });
        if (configFile is not null)
        {
            AddConfigFile(builder.Configuration, configFile);
        }

        builder.Configuration.AddInMemoryCollection(GatewayConfiguration.FromFlags(settings, root, builder.Configuration));
        if (GatewayConfiguration.AppsOf(builder.Configuration).Count == 0)
        {
            throw new UsageException("no app to serve: give an APP (module:callable), or PythonGateway:Apps in --config (see gateway --help)");
        }

        builder.Host.UseSystemd();

        // gunicorn's error log is standard error; standard output is left to --access-logfile -.
        builder.Services.Configure<ConsoleLoggerOptions>(static o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        if (errorLogFile is not null)
        {
            RedirectLog(builder, errorLogFile);
        }

        var binds = GatewayListeners.Binds(settings, builder.Configuration);

        // Before any worker process starts: an address in use is one line and exit 1; a stale unix socket file is removed.
        BindCheck.Prepare(binds);
        if (binds.Count > 0)
        {
            builder.WebHost.ConfigureKestrel(kestrel => GatewayListeners.Listen(kestrel, binds, certificate));
        }

        // The Kestrel section's options (Limits:MaxRequestBodySize and the rest), which WebApplication.CreateBuilder
        // reads only for endpoints and certificates: configured as the ASP.NET Core docs show for any host, so
        // appsettings.json, --config and Kestrel__Limits__… variables apply; the flags come last in configuration.
        builder.Services.Configure<KestrelServerOptions>(builder.Configuration.GetSection("Kestrel"));
        builder.Services.AddPythonGateway();
        builder.Services.AddHostedService<GatewaySignals>();
        if (settings.GracefulTimeout is { } graceful)
        {
            builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(graceful));
        }

        if (settings.ForwardedAllowIps is { } proxies)
        {
            builder.Services.Configure<ForwardedHeadersOptions>(proxies.Configure);
        }

        var accessLog = accessLogFile is null ? null : AddAccessLog(builder, accessLogFile);
        try
        {
            return (builder.Build(), accessLog);
        }
        catch
        {
            accessLog?.Dispose();
            throw;
        }
    }

    private static async Task<(int Code, string? Failure)> ServeAsync(WebApplication app, GatewaySettings settings, TextWriter output, string? pidFile)
    {
        if (settings.ForwardedAllowIps is not null)
        {
            app.UseForwardedHeaders();
        }

        if (settings.AccessLogFile is not null)
        {
            app.UseHttpLogging();
        }

        if (settings.HealthPath is { } health)
        {
            app.MapHealthChecks(health);
        }

        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(CliLog.CategoryName);
        var apps = string.Join(", ", GatewayConfiguration.AppsOf(app.Configuration).Select(static a => $"{a.Key}={a.Value}"));
        try
        {
            app.MapPythonApps();
        }
        catch (Exception ex) when (ex is InvalidOperationException or PythonUnavailableException)
        {
            CliLog.LoadFailed(logger, ex.Message);
            return (ExitCodes.AppLoadFailed, $"worker failed to boot: {ex.Message.Split('\n')[0]}");
        }
        catch (Exception ex) when (ex is ArgumentException or OptionsValidationException)
        {
            return (ExitCodes.Usage, ex.Message);
        }

        if (settings.CheckConfig)
        {
            await output.WriteLineAsync($"gateway: configuration OK, the apps load: {apps}");
            return (ExitCodes.Success, null);
        }

        CliLog.Serving(logger, GatewayConfiguration.AppsOf(app.Configuration).Count, apps);
        var restoreUmask = BindCheck.SocketUmask(GatewayListeners.Binds(settings, app.Configuration), settings.Umask ?? 0);
        app.Lifetime.ApplicationStarted.Register(restoreUmask);
        if (pidFile is not null)
        {
            try
            {
                await File.WriteAllTextAsync(pidFile, $"{Environment.ProcessId}\n");
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return (ExitCodes.Usage, $"--pid: cannot write '{pidFile}': {ex.Message}");
            }
        }

        try
        {
            await app.RunAsync();
        }
        catch (OptionsValidationException ex)
        {
            return (ExitCodes.Usage, ex.Message);
        }
        catch (IOException ex)
        {
            // Kestrel could not listen: an address in use, a socket path not writable.
            return (ExitCodes.Failure, ex.Message);
        }
        finally
        {
            restoreUmask();
        }

        return (ExitCodes.Success, null);
    }

    /// <summary>
    /// Puts <c>--config</c> after <c>appsettings.json</c> and before the environment variables, as a second
    /// settings file would be; the flags come after both.
    /// </summary>
    private static void AddConfigFile(ConfigurationManager configuration, string path)
    {
        if (!File.Exists(path))
        {
            throw new UsageException($"--config: no file '{path}'");
        }

        var source = new JsonConfigurationSource { Path = path, Optional = false, ReloadOnChange = false };
        source.ResolveFileProvider();
        var environment = configuration.Sources.Select((s, i) => (Source: s, Index: i)).LastOrDefault(static s => s.Source is EnvironmentVariablesConfigurationSource { Prefix: null or "" });
        try
        {
            if (environment.Source is null)
            {
                configuration.Sources.Add(source);
            }
            else
            {
                configuration.Sources.Insert(environment.Index, source);
            }
        }
        catch (Exception ex) when (ex is InvalidDataException or FormatException or JsonException or IOException)
        {
            throw new UsageException(
                $"--config: cannot read '{path}' as JSON configuration ({ex.Message}); accepted: JSON (.json) in the host's configuration shape, or a gunicorn Python config file (gunicorn.conf.py)");
        }
    }

    /// <summary>
    /// <c>--error-logfile FILE</c>: the log goes to the file instead of standard error, without colours. The file is opened
    /// for appending and shared, as the access log's is; the last <c>gateway: </c> line still goes to standard error.
    /// </summary>
    private static void RedirectLog(WebApplicationBuilder builder, string path)
    {
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"--error-logfile: cannot open '{path}': {ex.Message}");
        }

        // The console logger writes to Console.Error as it is when it writes; the command's own error writer was taken before.
        Console.SetError(TextWriter.Synchronized(new StreamWriter(stream) { AutoFlush = true }));
        builder.Services.Configure<SimpleConsoleFormatterOptions>(static o => o.ColorBehavior = LoggerColorBehavior.Disabled);
    }

    /// <summary>
    /// ASP.NET Core's HTTP logging, one combined entry per request, written by <see cref="AccessLogLoggerProvider"/>
    /// alone (the console does not repeat it, whatever the log levels).
    /// </summary>
    private static AccessLogLoggerProvider AddAccessLog(WebApplicationBuilder builder, string target)
    {
        builder.Services.AddHttpLogging(static o =>
        {
            o.LoggingFields = HttpLoggingFields.RequestMethod | HttpLoggingFields.RequestPath | HttpLoggingFields.RequestQuery
                | HttpLoggingFields.RequestProtocol | HttpLoggingFields.ResponseStatusCode | HttpLoggingFields.Duration;
            o.CombineLogs = true;
        });
        builder.Services.AddHttpLoggingInterceptor<AccessLogInterceptor>();
        AccessLogLoggerProvider provider;
        try
        {
            provider = AccessLogLoggerProvider.Open(target);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"--access-logfile: cannot open '{target}': {ex.Message}");
        }

        builder.Logging.AddProvider(provider);
        if (provider.File is { } file)
        {
            builder.Services.AddSingleton(file);
        }

        builder.Logging.AddFilter<AccessLogLoggerProvider>(AccessLogLoggerProvider.Category, LogLevel.Information);
        builder.Logging.AddFilter<ConsoleLoggerProvider>(AccessLogLoggerProvider.Category, LogLevel.None);
        return provider;
    }
}
