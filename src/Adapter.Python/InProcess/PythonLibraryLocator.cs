namespace Adapter;

/// <summary>Finds libpython: the configured path, else <c>PYTHONNET_PYDLL</c>, else the usual system places.</summary>
internal static class PythonLibraryLocator
{
    private static readonly string[] Directories =
    [
        "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib",
    ];

    public static string Find(string? configured)
    {
        if (!string.IsNullOrEmpty(configured))
        {
            return File.Exists(configured)
                ? configured
                : throw new PythonUnavailableException($"PythonGatewayOptions.PythonLibrary is '{configured}', but no such file exists.");
        }

        var fromEnvironment = Environment.GetEnvironmentVariable("PYTHONNET_PYDLL");
        if (!string.IsNullOrEmpty(fromEnvironment))
        {
            return File.Exists(fromEnvironment)
                ? fromEnvironment
                : throw new PythonUnavailableException($"PYTHONNET_PYDLL is '{fromEnvironment}', but no such file exists.");
        }

        // The newest CPython 3 shared library found; Debian's package libpython3.11 installs libpython3.11.so.1.0.
        var found = Directories
            .Where(Directory.Exists)
            .SelectMany(static directory => Directory.EnumerateFiles(directory, "libpython3.*.so*"))
            .Select(static path => (Path: path, Minor: Minor(Path.GetFileName(path))))
            .Where(static candidate => candidate.Minor >= 0 && !candidate.Path.EndsWith(".a", StringComparison.Ordinal))
            .OrderByDescending(static candidate => candidate.Minor)
            .ThenByDescending(static candidate => candidate.Path.Length)
            .Select(static candidate => candidate.Path)
            .FirstOrDefault();
        return found ?? throw new PythonUnavailableException(
            "No libpython3 was found: set PythonGatewayOptions.PythonLibrary or PYTHONNET_PYDLL, or install it (Debian: apt-get install libpython3.11). Looked in "
            + string.Join(", ", Directories) + ".");
    }

    /// <summary>The minor version of a name like <c>libpython3.11.so.1.0</c>, or -1.</summary>
    private static int Minor(string fileName)
    {
        const string Prefix = "libpython3.";
        var rest = fileName.AsSpan(Prefix.Length);
        var end = rest.IndexOf('.');
        return end > 0 && int.TryParse(rest[..end], out var minor) ? minor : -1;
    }
}
