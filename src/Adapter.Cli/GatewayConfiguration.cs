using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Adapter.Cli;

/// <summary>
/// The flags as configuration keys, in the shape a C# host reads (<c>PythonGateway:*</c>, <c>Gateway:*</c>,
/// <c>Logging:*</c>, <c>Kestrel:*</c>), so the command and a config-only host are one thing. Precedence, lowest first:
/// <see cref="Defaults"/>, <c>appsettings.json</c> in the content root, <c>--config</c>, environment variables, flags.
/// </summary>
internal static class GatewayConfiguration
{
    private const string Apps = "PythonGateway:Apps";
    private const string Paths = "PythonGateway:Paths";

    /// <summary>Kestrel's limit on a request body, in bytes; an empty value binds as null, no limit.</summary>
    public const string MaxRequestBodySize = "Kestrel:Limits:MaxRequestBodySize";

    /// <summary>
    /// gunicorn's log level (info), without a line per request from ASP.NET Core's own categories; and gunicorn's
    /// unlimited request body (Kestrel's own default is 30 MB): the body streams to the app, which decides.
    /// </summary>
    /// <remarks>
    /// <c>WEB_CONCURRENCY</c>, when set, is the number of worker processes, as gunicorn takes it: lower than any
    /// configuration file or flag.
    /// </remarks>
    /// <exception cref="UsageException">WEB_CONCURRENCY is not a whole number.</exception>
    public static Dictionary<string, string?> Defaults(Func<string, string?> environment)
    {
        var defaults = new Dictionary<string, string?>
        {
            ["Logging:LogLevel:Default"] = "Information",
            ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
            [MaxRequestBodySize] = "",
        };
        if (environment("WEB_CONCURRENCY") is { Length: > 0 } concurrency)
        {
            defaults["PythonGateway:Processes"] = int.TryParse(concurrency, NumberStyles.None, CultureInfo.InvariantCulture, out var workers)
                ? workers.ToString(CultureInfo.InvariantCulture)
                : throw new UsageException($"WEB_CONCURRENCY: '{concurrency}' is not a whole number of worker processes");
        }

        return defaults;
    }

    /// <summary>The flags' keys. <paramref name="configuration"/> (every source but the flags) supplies the paths already configured.</summary>
    public static Dictionary<string, string?> FromFlags(GatewaySettings settings, string currentDirectory, IConfiguration configuration)
    {
        var keys = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        Set(keys, "PythonGateway:Processes", settings.Workers);
        Set(keys, "PythonGateway:Threads", settings.Threads);

        // gunicorn's --threads: per worker process, or in-process the threads of the one interpreter.
        Set(keys, "PythonGateway:ProcessThreads", settings.Threads);
        Set(keys, "PythonGateway:MaxRequests", settings.MaxRequests);
        Set(keys, "PythonGateway:MaxRequestsJitter", settings.MaxRequestsJitter);
        if (settings.Python is { } python)
        {
            keys["PythonGateway:PythonExecutable"] = python;
        }

        if (settings.Reload)
        {
            keys["PythonGateway:ReloadOnChange"] = "true";
        }

        if (settings.Timeout is { } timeout)
        {
            var span = timeout == 0 ? System.Threading.Timeout.InfiniteTimeSpan : TimeSpan.FromSeconds(timeout);
            keys["Gateway:RequestTimeout"] = span.ToString("c", CultureInfo.InvariantCulture);
        }

        if (settings.KeepAlive is { } keepAlive)
        {
            keys["Kestrel:Limits:KeepAliveTimeout"] = TimeSpan.FromSeconds(keepAlive).ToString("c", CultureInfo.InvariantCulture);
        }

        if (settings.LimitRequestLine is { } line)
        {
            // gunicorn's 0 is no limit.
            keys["Kestrel:Limits:MaxRequestLineSize"] = (line == 0 ? int.MaxValue : line).ToString(CultureInfo.InvariantCulture);
        }

        Set(keys, "Kestrel:Limits:MaxRequestHeaderCount", settings.LimitRequestFields);
        if (settings.LimitRequestBody is { } limit)
        {
            keys[MaxRequestBodySize] = limit == 0 ? "" : limit.ToString(CultureInfo.InvariantCulture);
        }

        if (settings.LogLevel is { } level)
        {
            var mapped = LogLevelOf(level);
            keys["Logging:LogLevel:Default"] = mapped;

            // ASP.NET Core's own categories stay at warning or quieter: at info they log every request twice over.
            keys["Logging:LogLevel:Microsoft.AspNetCore"] = level is "debug" or "info" ? "Warning" : mapped;
        }

        // gunicorn puts the current directory first on sys.path; then --pythonpath; then what configuration lists.
        string[] configured = [.. configuration.GetSection(Paths).GetChildren().Select(static c => c.Value).OfType<string>()];
        string[] paths = [currentDirectory, .. settings.PythonPath.Select(Path.GetFullPath), .. configured];
        for (var i = 0; i < paths.Length; i++)
        {
            keys[$"{Paths}:{i.ToString(CultureInfo.InvariantCulture)}"] = paths[i];
        }

        foreach (var app in settings.Apps)
        {
            keys[$"{Apps}:{app.Prefix}"] = app.Target;
        }

        return keys;
    }

    /// <summary>The mounted apps once every source is in: prefix → target.</summary>
    public static IReadOnlyList<KeyValuePair<string, string?>> AppsOf(IConfiguration configuration) =>
        [.. configuration.GetSection(Apps).GetChildren().Select(static c => KeyValuePair.Create(c.Key, c.Value))];

    private static void Set(Dictionary<string, string?> keys, string key, int? value)
    {
        if (value is { } number)
        {
            keys[key] = number.ToString(CultureInfo.InvariantCulture);
        }
    }

    private static string LogLevelOf(string level) => level switch
    {
        "debug" => "Debug",
        "info" => "Information",
        "warning" => "Warning",
        "error" => "Error",
        _ => "Critical",
    };
}
