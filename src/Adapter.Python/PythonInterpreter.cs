using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;

namespace Adapter;

/// <summary>
/// The Python interpreter both modes use (<see cref="PythonGatewayOptions.PythonExecutable"/>), as it describes
/// itself: its real path, its version, and where its own libpython is (from <c>sysconfig</c>), which in-process mode loads.
/// </summary>
internal sealed class PythonInterpreter
{
    /// <summary>Where a user changes the interpreter, for messages.</summary>
    public const string Setting = "--python PATH (the gateway command), PythonGateway:PythonExecutable (configuration) or PythonGatewayOptions.PythonExecutable";

    // Run with -I: the interpreter's own answer, whatever PYTHONPATH or PYTHONHOME say.
    private const string Probe = """
        import json, sys, sysconfig
        v = sysconfig.get_config_var
        print(json.dumps({"executable": sys.executable, "version": "%d.%d.%d" % sys.version_info[:3],
            "shared": bool(v("Py_ENABLE_SHARED")), "libdir": v("LIBDIR"), "libpl": v("LIBPL"), "multiarch": v("MULTIARCH"),
            "names": [n for n in (v("INSTSONAME"), v("LDLIBRARY")) if n], "base_prefix": sys.base_prefix}))
        """;

    private static readonly ConcurrentDictionary<string, Lazy<PythonInterpreter>> Known = new(StringComparer.Ordinal);

    private PythonInterpreter(string command, JsonElement answer)
    {
        Command = command;
        Executable = answer.GetProperty("executable").GetString() is { Length: > 0 } executable ? executable : command;
        Version = answer.GetProperty("version").GetString() ?? "3";
        Shared = answer.GetProperty("shared").GetBoolean();
        Names = [.. answer.GetProperty("names").EnumerateArray().Select(static n => n.GetString()).OfType<string>()];
        var basePrefix = answer.GetProperty("base_prefix").GetString();
        string?[] directories =
        [
            answer.GetProperty("libdir").GetString(),
            answer.GetProperty("libdir").GetString() is { } libdir && answer.GetProperty("multiarch").GetString() is { Length: > 0 } arch ? Path.Combine(libdir, arch) : null,
            answer.GetProperty("libpl").GetString(),
            basePrefix is null ? null : Path.Combine(basePrefix, "lib"),
        ];
        Directories = [.. directories.OfType<string>().Distinct()];
    }

    /// <summary>The default interpreter: the active virtualenv's (<c>VIRTUAL_ENV</c>), else <c>python3</c> from <c>PATH</c>.</summary>
    public static string DefaultExecutable()
    {
        var virtualenv = Environment.GetEnvironmentVariable("VIRTUAL_ENV");
        return !string.IsNullOrEmpty(virtualenv) && File.Exists(Path.Combine(virtualenv, "bin", "python"))
            ? Path.Combine(virtualenv, "bin", "python")
            : "python3";
    }

    /// <summary>As configured: a path, or a name looked up on <c>PATH</c>.</summary>
    public string Command { get; }

    /// <summary>Its <c>sys.executable</c>: the real interpreter behind a <c>PATH</c> name or a pyenv shim.</summary>
    public string Executable { get; }

    /// <summary>Its version, <c>3.11.2</c>.</summary>
    public string Version { get; }

    /// <summary>False when it was built without a shared libpython (<c>Py_ENABLE_SHARED</c> is 0).</summary>
    public bool Shared { get; }

    /// <summary>Its libpython's file names (<c>INSTSONAME</c>, <c>LDLIBRARY</c>).</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>Where its libpython may be (<c>LIBDIR</c>, <c>LIBDIR/MULTIARCH</c>, <c>LIBPL</c>, the base prefix's <c>lib</c>).</summary>
    public IReadOnlyList<string> Directories { get; }

    /// <summary>For messages: <c>Python 3.11.2 (/usr/bin/python3)</c>.</summary>
    public string Description => $"Python {Version} ({Executable})";

    /// <summary>Asks <paramref name="command"/> about itself, once per command.</summary>
    /// <exception cref="PythonUnavailableException">It cannot be run, or it did not answer.</exception>
    public static PythonInterpreter Of(string command)
    {
        var known = Known.GetOrAdd(command, static c => new Lazy<PythonInterpreter>(() => Ask(c)));
        try
        {
            return known.Value;
        }
        catch (PythonUnavailableException)
        {
            // Not cached: the interpreter may be installed later in a long-running host.
            Known.TryRemove(KeyValuePair.Create(command, known));
            throw;
        }
    }

    /// <summary>The description of <paramref name="command"/> when it answers, else the command itself.</summary>
    public static string Describe(string command)
    {
        try
        {
            return Of(command).Description;
        }
        catch (PythonUnavailableException)
        {
            return $"'{command}'";
        }
    }

    /// <summary>Its libpython, which in-process mode loads.</summary>
    /// <exception cref="PythonUnavailableException">It was built without one, or the file is not where it says.</exception>
    public string Library()
    {
        if (!Shared)
        {
            throw new PythonUnavailableException(
                $"{Description} was built without a shared libpython (sysconfig's Py_ENABLE_SHARED is 0), which in-process mode "
                + "(Processes = 0, gateway -w 0) loads. Run the apps in worker processes (-w N), or choose an interpreter built with one "
                + $"(Debian's /usr/bin/python3 with libpython3.x; pyenv: PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install) with {Setting}.");
        }

        foreach (var name in Names)
        {
            foreach (var directory in Directories)
            {
                var path = Path.Combine(directory, name);
                if (File.Exists(path))
                {
                    return path;
                }
            }
        }

        throw new PythonUnavailableException(
            $"{Description} names its libpython {string.Join(" or ", Names)}, but it is not in {string.Join(", ", Directories)} "
            + $"(Debian: apt-get install libpython{Version[..Version.LastIndexOf('.')]}). Choose another interpreter with {Setting}, or set PythonGatewayOptions.PythonLibrary.");
    }

    private static PythonInterpreter Ask(string command)
    {
        var start = new ProcessStartInfo(command, ["-I", "-c", Probe])
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
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException or FileNotFoundException)
        {
            throw new PythonUnavailableException($"Cannot run the Python interpreter '{command}': {ex.Message}. Install python3, or choose one with {Setting}.", ex);
        }

        using (process)
        {
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
            {
                process.Kill(entireProcessTree: true);
                throw new PythonUnavailableException($"The Python interpreter '{command}' did not answer within 30 s. Choose another with {Setting}.");
            }

            try
            {
                using var answer = JsonDocument.Parse(output.Result);
                return new PythonInterpreter(command, answer.RootElement.Clone());
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                throw new PythonUnavailableException(
                    $"'{command}' is not a Python 3 interpreter that answers (exit code {process.ExitCode}: {error.Result.Trim()}). Choose another with {Setting}.", ex);
            }
        }
    }
}
