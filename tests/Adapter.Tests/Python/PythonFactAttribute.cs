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

    /// <summary>Why the tests cannot run here, or null when everything they need is installed.</summary>
    public static string? Missing(string[] modules)
    {
        var library = Probes.GetOrAdd("libpython", static _ =>
        {
            try
            {
                PythonLibraryLocator.Find(null);
                return null;
            }
            catch (PythonUnavailableException ex)
            {
                return ex.Message;
            }
        });
        if (library is not null)
        {
            return library;
        }

        foreach (var module in modules)
        {
            var reason = Probes.GetOrAdd(module, static name => Import(name));
            if (reason is not null)
            {
                return reason;
            }
        }

        return null;
    }

    private static string? Import(string module)
    {
        const string Python = "/usr/bin/python3";
        if (!File.Exists(Python))
        {
            return $"{Python} is missing, so the Python package '{module}' cannot be checked (apt-get install python3).";
        }

        using var process = Process.Start(new ProcessStartInfo(Python, ["-c", $"import {module}"])
        {
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        process.StandardError.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
        {
            process.Kill();
            return $"Importing the Python package '{module}' did not finish in 30 s.";
        }

        return process.ExitCode == 0 ? null : $"The Python package '{module}' is not installed (Debian: apt-get install python3-{module}).";
    }
}
