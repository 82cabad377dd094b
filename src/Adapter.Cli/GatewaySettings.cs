namespace Adapter.Cli;

/// <summary>What the command line asked for; null where a flag was not given (configuration or the defaults decide).</summary>
internal sealed class GatewaySettings
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
}
