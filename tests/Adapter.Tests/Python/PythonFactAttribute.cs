using System.Collections.Concurrent;
using System.Diagnostics;

namespace Adapter.Tests.Python;

/// <summary>
/// A fact that needs CPython (Debian's libpython3.11) and the named Python packages; when one is missing the
/// test is reported skipped with the reason, never passed. <c>.ci/run</c> installs them.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class PythonFactAttribute : FactAttribute
{
    public PythonFactAttribute(params string[] modules)
    {
        Skip = PythonAvailability.Missing(modules);
    }
}

/// <summary>The theory twin of <see cref="PythonFactAttribute"/>.</summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class PythonTheoryAttribute : TheoryAttribute
{
    public PythonTheoryAttribute(params string[] modules)
    {
        Skip = PythonAvailability.Missing(modules);
    }
}

internal static class PythonAvailability
{
    private static readonly ConcurrentDictionary<string, string?> Probes = new();

    /// <summary>
    /// Why the tests cannot run here, or null when everything they need is installed: the packages must import
    /// in the interpreter of the libpython the in-process bridge loads, and in <see cref="PythonHost.PythonExecutable"/>,
    /// which the worker-process tests run.
    /// </summary>
    public static string? Missing(string[] modules)
    {
        string library;
        try
        {
            library = PythonLibraryLocator.Find(null, PythonHost.PythonExecutable).Library;
        }
        catch (PythonUnavailableException ex)
        {
            return ex.Message;
        }

        var interpreters = new[] { InterpreterOf(library), PythonHost.PythonExecutable }.Distinct();
        foreach (var interpreter in interpreters)
        {
            foreach (var module in modules.Prepend("sys"))
            {
                var reason = Probes.GetOrAdd($"{interpreter}\0{module}", static key =>
                {
                    var parts = key.Split('\0');
                    return Import(parts[0], parts[1]);
                });
                if (reason is not null)
                {
                    return reason;
                }
            }
        }

        return null;
    }

    /// <summary>The python executable beside a libpython: <c>PREFIX/lib[/ARCH]/libpython3.11.so…</c> gives <c>PREFIX/bin/python3.11</c>.</summary>
    private static string InterpreterOf(string library)
    {
        var name = Path.GetFileName(library);
        var version = name.StartsWith("libpython", StringComparison.Ordinal) ? name["libpython".Length..].Split(".so")[0] : "3";
        for (var directory = Path.GetDirectoryName(library); directory is not null; directory = Path.GetDirectoryName(directory))
        {
            var candidate = Path.Combine(directory, "bin", $"python{version}");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return PythonHost.PythonExecutable;
    }

    private static string? Import(string python, string module)
    {
        if (!File.Exists(python))
        {
            return $"{python} is missing, so the Python package '{module}' cannot be checked (apt-get install python3).";
        }

        using var process = Process.Start(new ProcessStartInfo(python, ["-c", $"import {module}"])
        {
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;

        // Drained while the wait runs, so a hung import cannot hang test discovery past the timeout.
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
        {
            process.Kill(entireProcessTree: true);
            return $"Importing the Python package '{module}' with {python} did not finish in 30 s.";
        }

        error.Wait(TimeSpan.FromSeconds(5));

        return process.ExitCode == 0 ? null : $"The Python package '{module}' is not installed for {python} (Debian: apt-get install python3-{module}).";
    }
}
