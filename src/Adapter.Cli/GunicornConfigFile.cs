using System.Diagnostics;
using System.Reflection;
using System.Text.Json;

namespace Adapter.Cli;

/// <summary>
/// <c>-c gunicorn.conf.py</c>: a gunicorn config file, executed by the chosen Python (<c>gunicorn_config.py</c>, which
/// never imports the app) and turned into the flags its settings stand for, so the file and the command line are
/// parsed, checked and applied alike (the command line wins).
/// </summary>
internal static class GunicornConfigFile
{
    /// <summary>gunicorn's setting → the flag that does the same here.</summary>
    private static readonly Dictionary<string, string> Flags = new(StringComparer.Ordinal)
    {
        ["bind"] = "--bind",
        ["workers"] = "--workers",
        ["threads"] = "--threads",
        ["timeout"] = "--timeout",
        ["graceful_timeout"] = "--graceful-timeout",
        ["max_requests"] = "--max-requests",
        ["max_requests_jitter"] = "--max-requests-jitter",
        ["keepalive"] = "--keep-alive",
        ["limit_request_line"] = "--limit-request-line",
        ["limit_request_fields"] = "--limit-request-fields",
        ["accesslog"] = "--access-logfile",
        ["errorlog"] = "--error-logfile",
        ["loglevel"] = "--log-level",
        ["raw_env"] = "--env",
        ["forwarded_allow_ips"] = "--forwarded-allow-ips",
        ["chdir"] = "--chdir",
        ["pythonpath"] = "--pythonpath",
        ["reload"] = "--reload",
        ["preload_app"] = "--preload",
        ["pidfile"] = "--pid",
        ["capture_output"] = "--capture-output",
        ["certfile"] = "--certfile",
        ["keyfile"] = "--keyfile",
        ["check_config"] = "--check-config",
    };

    /// <summary>True for a file this reads: anything but JSON (<c>.json</c>, or text that starts with <c>{</c>).</summary>
    public static bool IsPython(string path)
    {
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        if (path.EndsWith(".py", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        try
        {
            using var reader = new StreamReader(path);
            int c;
            while ((c = reader.Read()) >= 0 && char.IsWhiteSpace((char)c))
            {
            }

            return c != '{';
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return true;
        }
    }

    /// <summary>
    /// Runs <paramref name="path"/> with <paramref name="python"/>; the flags its settings stand for, and one warning
    /// listing what is not applied (settings this command does not have, server hooks), or null.
    /// </summary>
    /// <exception cref="UsageException">The file is missing, or Python could not execute it.</exception>
    public static (List<string> Arguments, string? Warning) Read(string path, string python)
    {
        if (!File.Exists(path))
        {
            throw new UsageException($"--config: no file '{path}'");
        }

        var (settings, hooks) = Execute(path, python);
        var arguments = new List<string>();
        var ignored = new List<string>();
        foreach (var (name, value) in settings)
        {
            if (name == "wsgi_app")
            {
                if (value.ValueKind == JsonValueKind.String)
                {
                    arguments.Add(value.GetString()!);
                }

                continue;
            }

            if (!Flags.TryGetValue(name, out var flag))
            {
                ignored.Add(name);
                continue;
            }

            switch (value.ValueKind)
            {
                case JsonValueKind.Null or JsonValueKind.False:
                    break;
                case JsonValueKind.True:
                    arguments.Add(flag);
                    break;
                case JsonValueKind.Array when name is "forwarded_allow_ips" or "pythonpath":
                    arguments.Add(flag);
                    arguments.Add(string.Join(',', value.EnumerateArray().Select(Text)));
                    break;
                case JsonValueKind.Array:
                    foreach (var item in value.EnumerateArray())
                    {
                        arguments.Add(flag);
                        arguments.Add(Text(item));
                    }

                    break;
                default:
                    arguments.Add(flag);
                    arguments.Add(Text(value));
                    break;
            }
        }

        var parts = new List<string>();
        if (ignored.Count > 0)
        {
            parts.Add($"settings this command does not have: {string.Join(", ", ignored)}");
        }

        if (hooks.Count > 0)
        {
            parts.Add($"server hooks, which it never runs: {string.Join(", ", hooks)}");
        }

        var warning = parts.Count == 0 ? null : $"warning: {Path.GetFileName(path)}: not applied: {string.Join("; ", parts)}";
        return (arguments, warning);
    }

    private static string Text(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString()!,
        // timeout = 30.0 is 30, as gunicorn's int() makes it.
        JsonValueKind.Number when !value.TryGetInt64(out _) && value.GetDouble() is var number && number == Math.Floor(number) && Math.Abs(number) < long.MaxValue
            => ((long)number).ToString(System.Globalization.CultureInfo.InvariantCulture),
        JsonValueKind.Number => value.GetRawText(),
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        _ => value.GetRawText(),
    };

    private static (List<(string Name, JsonElement Value)> Settings, List<string> Hooks) Execute(string path, string python)
    {
        using var resource = Assembly.GetExecutingAssembly().GetManifestResourceStream("gunicorn_config.py")
            ?? throw new InvalidOperationException("The gunicorn_config.py resource is missing.");
        using var reader = new StreamReader(resource);
        var start = new ProcessStartInfo(python, ["-c", reader.ReadToEnd(), path])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("no process");
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            throw new UsageException($"--config: cannot run '{python}' to read the gunicorn config file '{path}': {ex.Message} (choose the interpreter with --python)");
        }

        using (process)
        {
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
            {
                process.Kill(entireProcessTree: true);
                throw new UsageException($"--config: '{path}' did not finish executing within 30 s");
            }

            if (process.ExitCode != 0)
            {
                var last = error.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? $"exit code {process.ExitCode}";
                throw new UsageException(
                    $"--config: '{path}' is neither a gunicorn config file that {python} can execute ({last}) nor JSON configuration; "
                    + "accepted: a gunicorn Python config file (gunicorn.conf.py), or JSON (.json) in the host's configuration shape");
            }

            using var document = JsonDocument.Parse(output.Result);
            var settings = document.RootElement.GetProperty("settings").EnumerateObject().Select(static p => (p.Name, p.Value.Clone())).ToList();
            var hooks = document.RootElement.GetProperty("hooks").EnumerateArray().Select(static h => h.GetString()!).ToList();
            return (settings, hooks);
        }
    }
}
