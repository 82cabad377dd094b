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
    private readonly Option<int?> _threads = Whole("--threads", "Requests each worker process serves at once, on as many threads (gunicorn's gthread); in-process (-w 0), the threads that run the Python apps. Default: 1 per worker process, 2 in-process.", 1);
    private readonly Option<int?> _timeout = Whole("--timeout", "Seconds an app may stay silent before it is answered 504 (and its worker replaced); 0 turns it off. Default: 30.", 0, "-t");
    private readonly Option<int?> _gracefulTimeout = Whole("--graceful-timeout", "Seconds in-flight requests get to finish after SIGTERM. Default: 30.", 0);
    private readonly Option<long?> _limitRequestBody = new("--limit-request-body")
    {
        Arity = ArgumentArity.OneOrMore,
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
    private readonly Option<bool> _reload = Switch("--reload", "Restart the worker processes when a .py file on the Python path changes.");
    private readonly Option<string?> _chdir = Text("--chdir", "Change to this directory first; it is the content root and first on the Python path.", "DIR");

    private readonly Option<string[]> _pythonPath = new("--pythonpath")
    {
        Description = "Comma-separated directories put on the Python path after the current directory.",
        HelpName = "DIRS",
        CustomParser = static result => [.. result.Tokens.SelectMany(static t => t.Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))],
    };

    private readonly Option<int?> _umask = new("--umask", "-m")
    {
        Description = "Bit mask for the mode of unix sockets (0777 & ~MASK), octal as 0022 or 0o22. Default: 0, a socket any local user may connect to.",
        HelpName = "INT",
        CustomParser = ParseUmask,
    };

    private readonly Option<string?> _python = Text(
        "--python", "The Python interpreter, in both modes (worker processes run it; -w 0 loads its libpython). Default: $VIRTUAL_ENV/bin/python, else python3 from PATH.", "PATH");

    private readonly Option<string?> _accessLogFile = Text("--access-logfile", "Write one access log line per request to this file; - for standard output.", "FILE");
    private readonly Option<string?> _errorLogFile = Text("--error-logfile", "Write the log to this file instead of standard error (-, the default).", "FILE", "--log-file");
    private readonly Option<string?> _logLevel = new("--log-level") { Description = "debug, info, warning, error or critical. Default: info.", HelpName = "LEVEL", Arity = ArgumentArity.OneOrMore, CustomParser = ParseLogLevel };
    private readonly Option<bool> _captureOutput = Switch("--capture-output", "Send the apps' standard output and error to the log: always done here, so accepted and changes nothing.");
    private readonly Option<string?> _certFile = Text("--certfile", "PEM certificate: serve HTTPS (HTTP/1.1 and HTTP/2) on every bind.", "FILE");
    private readonly Option<string?> _keyFile = Text("--keyfile", "PEM private key of --certfile.", "FILE");

    private readonly Option<string[]> _env = new("--env", "-e")
    {
        Description = "NAME=VALUE put in the environment of the server and its Python workers; repeatable.",
        HelpName = "NAME=VALUE",
        CustomParser = ParseEnvironment,
    };

    private readonly Option<bool> _preload = Switch("--preload", "Import the apps before serving: always done here (every worker imports them before the server starts), so accepted and changes nothing.");
    private readonly Option<string?> _pid = Text("--pid", "Write the server's process id to this file while it runs.", "FILE", "-p");
    private readonly Option<int?> _keepAlive = Whole("--keep-alive", "Seconds an idle keep-alive connection is kept open. Default: Kestrel's 130.", 1);
    private readonly Option<int?> _limitRequestLine = Whole("--limit-request-line", "Bytes of a request line (method, target, version); 0 for no limit. Default: Kestrel's 8192.", 0);
    private readonly Option<int?> _limitRequestFields = Whole("--limit-request-fields", "Request headers a request may have. Default: Kestrel's 100, as gunicorn's.", 1);

    private readonly Option<string?> _limitRequestFieldSize = Refused(
        "--limit-request-field_size",
        "Kestrel limits the request headers' total size, not each field's: set Kestrel:Limits:MaxRequestHeadersTotalSize (bytes, default 32768) in --config or as Kestrel__Limits__MaxRequestHeadersTotalSize");

    private readonly Option<string?> _name = Refused(
        "--name",
        ".NET cannot set its process title; under systemd the unit names the service (SyslogIdentifier= names its log lines)");

    private readonly Option<ForwardedProxies?> _forwardedAllowIps = new("--forwarded-allow-ips")
    {
        Arity = ArgumentArity.OneOrMore,
        Description = "Comma-separated proxy addresses or networks (or *) whose X-Forwarded-For, -Proto and -Host are believed.",
        HelpName = "IPS",
        CustomParser = ParseForwarded,
    };

    private readonly Option<string?> _config = Text(
        "--config",
        "A gunicorn config file (gunicorn.conf.py: its settings, run by the chosen Python), or JSON configuration in the host's shape (.json: {\"PythonGateway\": {\"Apps\": {\"/\": \"hello:app\"}}}); flags override it. Default: ./gunicorn.conf.py when there is one.",
        "FILE",
        "-c");

    private readonly Option<bool> _checkConfig = Switch("--check-config", "Load the apps, report, and exit: 0 when they load, 3 when one does not.");
    private readonly Option<string?> _health = new("--health") { Description = "Answer health checks (the Python workers ready) at this path, for example /healthz.", HelpName = "PATH", Arity = ArgumentArity.OneOrMore, CustomParser = ParseHealthPath };

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
            _pythonPath, _python, _accessLogFile, _errorLogFile, _logLevel, _captureOutput, _certFile, _keyFile, _forwardedAllowIps, _config, _checkConfig,
            _health, _env, _preload, _pid, _keepAlive, _limitRequestLine, _limitRequestFields, _limitRequestFieldSize, _name, _umask])
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

        GatewaySettings settings;
        try
        {
            (settings, var warning) = Resolve(command.Settings(result), Environment.GetEnvironmentVariable);
            if (warning is not null)
            {
                await error.WriteLineAsync($"gateway: {OneLine(warning)}");
            }
        }
        catch (UsageException ex)
        {
            await error.WriteLineAsync($"gateway: {OneLine(ex.Message)} (see gateway --help)");
            return ExitCodes.Usage;
        }

        if ((settings.CertFile is null) != (settings.KeyFile is null))
        {
            await error.WriteLineAsync("gateway: --certfile and --keyfile go together (see gateway --help)");
            return ExitCodes.Usage;
        }

        return await GatewayHost.RunAsync(settings, output, error);
    }

    /// <summary>
    /// The settings as gunicorn layers them, lowest first: the config file (<c>-c FILE.py</c>, or <c>./gunicorn.conf.py</c>),
    /// <c>GUNICORN_CMD_ARGS</c>, the command line; and the config file's warning, if any. A JSON <c>--config</c> stays a
    /// configuration source (<see cref="GatewayHost"/>).
    /// </summary>
    /// <exception cref="UsageException">GUNICORN_CMD_ARGS or the config file holds what the command line would refuse.</exception>
    internal static (GatewaySettings Settings, string? Warning) Resolve(GatewaySettings commandLine, Func<string, string?> environment)
    {
        var settings = commandLine;
        if (environment("GUNICORN_CMD_ARGS") is { Length: > 0 } text)
        {
            List<string> words;
            try
            {
                words = ShellWords.Split(text);
            }
            catch (FormatException ex)
            {
                throw new UsageException($"GUNICORN_CMD_ARGS: {ex.Message}");
            }

            settings = GatewaySettings.Merge(ParseLayer(words, "GUNICORN_CMD_ARGS"), settings);
        }

        var file = settings.ConfigFile ?? (File.Exists(DefaultConfigFile) ? DefaultConfigFile : null);
        if (file is null || !GunicornConfigFile.IsPython(Path.GetFullPath(file)))
        {
            return (settings, null);
        }

        var python = settings.Python
            ?? (environment("PythonGateway__PythonExecutable") is { Length: > 0 } configured ? configured : new PythonGatewayOptions().PythonExecutable);
        var (arguments, warning) = GunicornConfigFile.Read(Path.GetFullPath(file), python);

        // Read here: not a configuration source as well.
        return (GatewaySettings.Merge(ParseLayer(arguments, Path.GetFileName(file)), settings) with { ConfigFile = null }, warning);
    }

    /// <summary>What <see cref="RunAsync"/> would serve with: <paramref name="args"/> over <c>GUNICORN_CMD_ARGS</c> over the config file.</summary>
    /// <exception cref="UsageException">Bad usage in any of them.</exception>
    internal static (GatewaySettings Settings, string? Warning) Parse(IReadOnlyList<string> args, Func<string, string?> environment) =>
        Resolve(ParseLayer(args, "the command line"), environment);

    /// <summary>The file gunicorn reads when no <c>-c</c> is given.</summary>
    private const string DefaultConfigFile = "gunicorn.conf.py";

    /// <summary>Flags from elsewhere than the command line (<c>GUNICORN_CMD_ARGS</c>, a config file), parsed alike.</summary>
    private static GatewaySettings ParseLayer(IReadOnlyList<string> words, string source)
    {
        var command = new GatewayCommand();
        var result = command._root.Parse(words);
        if (result.Errors.Count > 0)
        {
            throw new UsageException($"{source}: {OneLine(result.Errors[0].Message)}");
        }

        return result.Action is null ? command.Settings(result) : throw new UsageException($"{source}: --help and --version belong on the command line");
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
        Umask = result.GetValue(_umask),
        ErrorLogFile = result.GetValue(_errorLogFile),
        Environment = result.GetValue(_env) ?? [],
        Preload = result.GetValue(_preload),
        PidFile = result.GetValue(_pid),
        CaptureOutput = result.GetValue(_captureOutput),
        KeepAlive = result.GetValue(_keepAlive),
        LimitRequestLine = result.GetValue(_limitRequestLine),
        LimitRequestFields = result.GetValue(_limitRequestFields),
    };

    /// <summary>A text option; given twice, the last one wins, as in gunicorn.</summary>
    private static Option<string?> Text(string name, string description, string helpName, params string[] aliases) => new(name, aliases)
    {
        Description = description,
        HelpName = helpName,
        Arity = ArgumentArity.OneOrMore,
        CustomParser = static result => result.Tokens.Count > 0 ? result.Tokens[^1].Value : null,
    };

    /// <summary>An on/off flag; given twice, still on.</summary>
    private static Option<bool> Switch(string name, string description) => new(name)
    {
        Description = description,
        Arity = ArgumentArity.Zero,
        AllowMultipleArgumentsPerToken = false,
    };

    /// <summary>A gunicorn flag this command cannot honour: refused (exit 2) with the reason and the ASP.NET Core way.</summary>
    private static Option<string?> Refused(string name, string reason)
    {
        var option = Text(name, $"Not supported: {reason}.", "VALUE");
        option.Validators.Add(result => result.AddError($"{name} is not supported: {reason}"));
        return option;
    }

    private static string[] ParseEnvironment(ArgumentResult result)
    {
        foreach (var token in result.Tokens)
        {
            if (token.Value.IndexOf('=', StringComparison.Ordinal) <= 0)
            {
                result.AddError($"--env: '{token.Value}' is not NAME=VALUE");
                return [];
            }
        }

        return [.. result.Tokens.Select(static t => t.Value)];
    }

    /// <summary>A whole-number option of at least <paramref name="minimum"/>, null when not given.</summary>
    private static Option<int?> Whole(string name, string description, int minimum, params string[] aliases) => new(name, aliases)
    {
        Description = description,

        // Given twice, the last one wins, as in gunicorn (-w 2 -w 1 is 1).
        Arity = ArgumentArity.OneOrMore,
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

    /// <summary>gunicorn's <c>auto_int</c>: <c>0022</c> and <c>0o22</c> octal, <c>0x12</c> hexadecimal, else decimal.</summary>
    private static int? ParseUmask(ArgumentResult result)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
        var (digits, radix) = text.ToLowerInvariant() switch
        {
            ['0', 'o', .. var rest] => (rest, 8),
            ['0', 'x', .. var rest] => (rest, 16),
            ['0', .. var rest] when rest.Length > 0 => (rest, 8),
            var whole => (whole, 10),
        };
        try
        {
            var value = digits.Length > 0 && digits.All(char.IsAsciiHexDigit) ? Convert.ToInt32(digits, radix) : -1;
            if (value is >= 0 and <= 0x1FF)
            {
                return value;
            }
        }
        catch (FormatException)
        {
        }

        result.AddError($"--umask: '{text}' is not a mask from 0 to 0777 (octal as 0022 or 0o22)");
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
