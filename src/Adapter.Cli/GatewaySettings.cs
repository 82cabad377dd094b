namespace Adapter.Cli;

/// <summary>What the command line asked for; null where a flag was not given (configuration or the defaults decide).</summary>
internal sealed record GatewaySettings
{
    public IReadOnlyList<AppMount> Apps { get; init; } = [];

    /// <summary>Empty when no <c>--bind</c> was given.</summary>
    public IReadOnlyList<BindAddress> Binds { get; init; } = [];

    public int? Workers { get; init; }

    public int? Threads { get; init; }

    /// <summary>Seconds; 0 turns the request timeout off.</summary>
    public int? Timeout { get; init; }

    /// <summary>Seconds.</summary>
    public int? GracefulTimeout { get; init; }

    /// <summary>Bytes a request body may hold; 0 for no limit.</summary>
    public long? LimitRequestBody { get; init; }

    public int? MaxRequests { get; init; }

    public int? MaxRequestsJitter { get; init; }

    public bool Reload { get; init; }

    public string? Chdir { get; init; }

    public IReadOnlyList<string> PythonPath { get; init; } = [];

    /// <summary>The interpreter (<c>--python</c>): a full path, or a name to look up on <c>PATH</c>.</summary>
    public string? Python { get; init; }

    /// <summary><c>-</c> for standard output, else a file path.</summary>
    public string? AccessLogFile { get; init; }

    public string? LogLevel { get; init; }

    public string? CertFile { get; init; }

    public string? KeyFile { get; init; }

    public ForwardedProxies? ForwardedAllowIps { get; init; }

    public string? ConfigFile { get; init; }

    public bool CheckConfig { get; init; }

    public string? HealthPath { get; init; }

    /// <summary>Unix sockets are made with mode <c>0777 &amp; ~Umask</c>; null for gunicorn's default, 0.</summary>
    public int? Umask { get; init; }

    /// <summary><c>-</c> for standard error (the default), else a file that takes the whole log.</summary>
    public string? ErrorLogFile { get; init; }

    /// <summary><c>NAME=VALUE</c> pairs put in the environment of the host and its Python workers.</summary>
    public IReadOnlyList<string> Environment { get; init; } = [];

    public bool Preload { get; init; }

    public string? PidFile { get; init; }

    public bool CaptureOutput { get; init; }

    /// <summary>Seconds an idle keep-alive connection is kept.</summary>
    public int? KeepAlive { get; init; }

    /// <summary>Bytes of the request line; 0 for no limit.</summary>
    public int? LimitRequestLine { get; init; }

    public int? LimitRequestFields { get; init; }

    /// <summary>
    /// <paramref name="high"/> over <paramref name="low"/>, as gunicorn layers its config file, <c>GUNICORN_CMD_ARGS</c> and the
    /// command line: what the higher one gives wins whole (a list is not added to), and a switch is on when either turns it on.
    /// </summary>
    public static GatewaySettings Merge(GatewaySettings low, GatewaySettings high) => new()
    {
        Apps = high.Apps.Count > 0 ? high.Apps : low.Apps,
        Binds = high.Binds.Count > 0 ? high.Binds : low.Binds,
        Workers = high.Workers ?? low.Workers,
        Threads = high.Threads ?? low.Threads,
        Timeout = high.Timeout ?? low.Timeout,
        GracefulTimeout = high.GracefulTimeout ?? low.GracefulTimeout,
        LimitRequestBody = high.LimitRequestBody ?? low.LimitRequestBody,
        MaxRequests = high.MaxRequests ?? low.MaxRequests,
        MaxRequestsJitter = high.MaxRequestsJitter ?? low.MaxRequestsJitter,
        Reload = high.Reload || low.Reload,
        Chdir = high.Chdir ?? low.Chdir,
        PythonPath = high.PythonPath.Count > 0 ? high.PythonPath : low.PythonPath,
        Python = high.Python ?? low.Python,
        AccessLogFile = high.AccessLogFile ?? low.AccessLogFile,
        LogLevel = high.LogLevel ?? low.LogLevel,
        CertFile = high.CertFile ?? low.CertFile,
        KeyFile = high.KeyFile ?? low.KeyFile,
        ForwardedAllowIps = high.ForwardedAllowIps ?? low.ForwardedAllowIps,
        ConfigFile = high.ConfigFile ?? low.ConfigFile,
        CheckConfig = high.CheckConfig || low.CheckConfig,
        HealthPath = high.HealthPath ?? low.HealthPath,
        ErrorLogFile = high.ErrorLogFile ?? low.ErrorLogFile,
        Environment = high.Environment.Count > 0 ? high.Environment : low.Environment,
        Preload = high.Preload || low.Preload,
        PidFile = high.PidFile ?? low.PidFile,
        CaptureOutput = high.CaptureOutput || low.CaptureOutput,
        KeepAlive = high.KeepAlive ?? low.KeepAlive,
        LimitRequestLine = high.LimitRequestLine ?? low.LimitRequestLine,
        LimitRequestFields = high.LimitRequestFields ?? low.LimitRequestFields,
        Umask = high.Umask ?? low.Umask,
    };
}
