using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using System.Globalization;

namespace Adapter.Cli;

/// <summary>
/// <c>gateway [options] APP...</c>: gunicorn's flag names parsed with System.CommandLine into <see cref="GatewaySettings"/>,
/// then the host run by <see cref="GatewayHost"/>. Bad usage is one <c>gateway: </c> line on standard error and exit code 2.
/// </summary>
internal sealed class GatewayCommand
{
    /// <summary>gunicorn's levels; each maps to an ASP.NET Core log level.</summary>
    public static readonly string[] LogLevels = ["debug", "info", "warning", "error", "critical"];

    private readonly Argument<AppMount[]> _apps = new("APP")
    {
        Description = "A WSGI app: module:callable (mounted at /) or /prefix=module:callable; repeat for more apps.",
        Arity = ArgumentArity.ZeroOrMore,
        CustomParser = ParseApps,
    };

    private readonly Option<BindAddress[]> _bind = new("--bind", "-b")
    {
        Description = $"HOST:PORT, [IPv6]:PORT or unix:PATH to listen on; repeatable. Default: {BindAddress.Default}.",
        HelpName = "ADDRESS",
        CustomParser = ParseBinds,
    };

    private readonly Option<int?> _workers = Whole("--workers", "Python worker processes; 0 runs the apps in-process (CPython inside the host). Default: the processor count.", 0, "-w");
    private readonly Option<int?> _threads = Whole("--threads", "In-process mode: threads that run the Python apps. Default: 2.", 1);
    private readonly Option<int?> _timeout = Whole("--timeout", "Seconds an app may stay silent before it is answered 504 (and its worker replaced); 0 turns it off. Default: 30.", 0, "-t");
    private readonly Option<int?> _gracefulTimeout = Whole("--graceful-timeout", "Seconds in-flight requests get to finish after SIGTERM. Default: 30.", 0);
    private readonly Option<long?> _limitRequestBody = new("--limit-request-body")
    {
        Description = "Bytes a request body may hold (413 past them); 0 for no limit. Default: 0, unless configuration sets Kestrel:Limits:MaxRequestBodySize.",
        HelpName = "BYTES",
        CustomParser = static result =>
        {
            var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
            if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value))
            {
                return value;
            }

            result.AddError($"--limit-request-body: '{text}' is not a whole number of bytes (0 for no limit)");
            return null;
        },
    };

    private readonly Option<int?> _maxRequests = Whole("--max-requests", "Replace a worker process after this many requests; 0 never does. Default: 0.", 0);
    private readonly Option<int?> _maxRequestsJitter = Whole("--max-requests-jitter", "Add 0 to this many requests to each worker's --max-requests.", 0);
    private readonly Option<bool> _reload = new("--reload") { Description = "Restart the worker processes when a .py file on the Python path changes." };
    private readonly Option<string?> _chdir = new("--chdir") { Description = "Change to this directory first; it is the content root and first on the Python path.", HelpName = "DIR" };

    private readonly Option<string[]> _pythonPath = new("--pythonpath")
    {
        Description = "Comma-separated directories put on the Python path after the current directory.",
        HelpName = "DIRS",
        CustomParser = static result => [.. result.Tokens.SelectMany(static t => t.Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))],
    };

    private readonly Option<string?> _python = new("--python")
    {
        Description = "The Python interpreter, in both modes (worker processes run it; -w 0 loads its libpython). Default: $VIRTUAL_ENV/bin/python, else python3 from PATH.",
        HelpName = "PATH",
    };

    private readonly Option<string?> _accessLogFile = new("--access-logfile") { Description = "Write one access log line per request to this file; - for standard output.", HelpName = "FILE" };
    private readonly Option<string?> _logLevel = new("--log-level") { Description = "debug, info, warning, error or critical. Default: info.", HelpName = "LEVEL", CustomParser = ParseLogLevel };
    private readonly Option<string?> _certFile = new("--certfile") { Description = "PEM certificate: serve HTTPS (HTTP/1.1 and HTTP/2) on every bind.", HelpName = "FILE" };
    private readonly Option<string?> _keyFile = new("--keyfile") { Description = "PEM private key of --certfile.", HelpName = "FILE" };

    private readonly Option<ForwardedProxies?> _forwardedAllowIps = new("--forwarded-allow-ips")
    {
        Description = "Comma-separated proxy addresses or networks (or *) whose X-Forwarded-For, -Proto and -Host are believed.",
        HelpName = "IPS",
        CustomParser = ParseForwarded,
    };

    private readonly Option<string?> _config = new("--config", "-c") { Description = "JSON configuration in the host's shape ({\"PythonGateway\": {\"Apps\": {\"/\": \"hello:app\"}}}); flags override it.", HelpName = "FILE" };
    private readonly Option<bool> _checkConfig = new("--check-config") { Description = "Load the apps, report, and exit: 0 when they load, 3 when one does not." };
    private readonly Option<string?> _health = new("--health") { Description = "Answer health checks (the Python workers ready) at this path, for example /healthz.", HelpName = "PATH", CustomParser = ParseHealthPath };

    // Named "gateway" whatever the executable: the tool shim, or Adapter.Cli.dll under dotnet exec.
    private readonly Command _root = new("gateway", "Serves Python WSGI apps on ASP.NET Core's Kestrel, with gunicorn's flags.")
    {
        new HelpOption(),
        new VersionOption(),
    };

    private GatewayCommand()
    {
        _root.Arguments.Add(_apps);
        foreach (var option in (Option[])[_bind, _workers, _threads, _timeout, _gracefulTimeout, _limitRequestBody, _maxRequests, _maxRequestsJitter, _reload, _chdir,
            _pythonPath, _python, _accessLogFile, _logLevel, _certFile, _keyFile, _forwardedAllowIps, _config, _checkConfig, _health])
        {
            _root.Options.Add(option);
        }
    }

    /// <summary>Parses <paramref name="args"/> and runs the gateway, <c>--help</c> or <c>--version</c>; the process's exit code.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error)
    {
        var command = new GatewayCommand();
        var result = command._root.Parse(args);
        if (result.Errors.Count > 0)
        {
            await error.WriteLineAsync($"gateway: {OneLine(result.Errors[0].Message)} (see gateway --help)");
            return ExitCodes.Usage;
        }

        if (result.Action is not null)
        {
            // --help or --version.
            return await result.InvokeAsync(new InvocationConfiguration { Output = output, Error = error });
        }

        var settings = command.Settings(result);
        if ((settings.CertFile is null) != (settings.KeyFile is null))
        {
            await error.WriteLineAsync("gateway: --certfile and --keyfile go together (see gateway --help)");
            return ExitCodes.Usage;
        }

        return await GatewayHost.RunAsync(settings, output, error);
    }

    /// <summary>Collapses a message to one line, as every <c>gateway: </c> line is.</summary>
    public static string OneLine(string message) =>
        string.Join(' ', message.Split(['\r', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    private GatewaySettings Settings(ParseResult result) => new()
    {
        Apps = result.GetValue(_apps) ?? [],
        Binds = result.GetValue(_bind) ?? [],
        Workers = result.GetValue(_workers),
        Threads = result.GetValue(_threads),
        Timeout = result.GetValue(_timeout),
        GracefulTimeout = result.GetValue(_gracefulTimeout),
        LimitRequestBody = result.GetValue(_limitRequestBody),
        MaxRequests = result.GetValue(_maxRequests),
        MaxRequestsJitter = result.GetValue(_maxRequestsJitter),
        Reload = result.GetValue(_reload),
        Chdir = result.GetValue(_chdir),
        PythonPath = result.GetValue(_pythonPath) ?? [],

        // A path is taken from where the command was started (before --chdir); a bare name is looked up on PATH.
        Python = result.GetValue(_python) is { } python && python.Contains('/', StringComparison.Ordinal) ? Path.GetFullPath(python) : result.GetValue(_python),
        AccessLogFile = result.GetValue(_accessLogFile),
        LogLevel = result.GetValue(_logLevel),
        CertFile = result.GetValue(_certFile),
        KeyFile = result.GetValue(_keyFile),
        ForwardedAllowIps = result.GetValue(_forwardedAllowIps),
        ConfigFile = result.GetValue(_config),
        CheckConfig = result.GetValue(_checkConfig),
        HealthPath = result.GetValue(_health),
    };

    /// <summary>A whole-number option of at least <paramref name="minimum"/>, null when not given.</summary>
    private static Option<int?> Whole(string name, string description, int minimum, params string[] aliases) => new(name, aliases)
    {
        Description = description,
        HelpName = "N",
        CustomParser = result =>
        {
            var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
            if (int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) && value >= minimum)
            {
                return value;
            }

            result.AddError($"{name}: '{text}' is not a whole number of {minimum} or more");
            return null;
        },
    };

    private static AppMount[] ParseApps(ArgumentResult result)
    {
        var mounts = new List<AppMount>();
        foreach (var token in result.Tokens)
        {
            if (!AppMount.TryParse(token.Value, out var mount, out var message))
            {
                result.AddError(message);
                return [];
            }

            if (mounts.Any(m => m.Prefix == mount.Prefix))
            {
                result.AddError($"two apps are mounted at '{mount.Prefix}'");
                return [];
            }

            mounts.Add(mount);
        }

        return [.. mounts];
    }

    private static BindAddress[] ParseBinds(ArgumentResult result)
    {
        var binds = new List<BindAddress>();
        foreach (var token in result.Tokens)
        {
            if (!BindAddress.TryParse(token.Value, out var bind, out var message))
            {
                result.AddError(message);
                return [];
            }

            binds.Add(bind);
        }

        return [.. binds];
    }

    private static string? ParseLogLevel(ArgumentResult result)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
        var level = text.ToLowerInvariant();
        if (LogLevels.Contains(level))
        {
            return level;
        }

        result.AddError($"--log-level: '{text}' is not one of {string.Join(", ", LogLevels)}");
        return null;
    }

    private static ForwardedProxies? ParseForwarded(ArgumentResult result)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
        if (ForwardedProxies.TryParse(text, out var proxies, out var message))
        {
            return proxies;
        }

        result.AddError(message);
        return null;
    }

    private static string? ParseHealthPath(ArgumentResult result)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
        if (text.StartsWith('/') && text.AsSpan().IndexOfAny("{}?# ") < 0)
        {
            return text;
        }

        result.AddError($"--health: '{text}' is not a path such as /healthz");
        return null;
    }
}
