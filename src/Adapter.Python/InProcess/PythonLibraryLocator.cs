namespace Adapter;

/// <summary>
/// Finds libpython: the configured path, else <c>PYTHONNET_PYDLL</c>, else the one the chosen interpreter
/// (<see cref="PythonGatewayOptions.PythonExecutable"/>) was built with, so both modes run one Python.
/// </summary>
internal static class PythonLibraryLocator
{
    /// <summary>The library to load, and the interpreter it belongs to when that is where it came from.</summary>
    /// <exception cref="PythonUnavailableException">No such file, or the interpreter cannot run or has no shared libpython.</exception>
    public static (string Library, PythonInterpreter? Interpreter) Find(string? configured, string executable)
    {
        if (!string.IsNullOrEmpty(configured))
        {
            return File.Exists(configured)
                ? (configured, null)
                : throw new PythonUnavailableException($"PythonGatewayOptions.PythonLibrary is '{configured}', but no such file exists.");
        }

        var fromEnvironment = Environment.GetEnvironmentVariable("PYTHONNET_PYDLL");
        if (!string.IsNullOrEmpty(fromEnvironment))
        {
            return File.Exists(fromEnvironment)
                ? (fromEnvironment, null)
                : throw new PythonUnavailableException($"PYTHONNET_PYDLL is '{fromEnvironment}', but no such file exists.");
        }

        var interpreter = PythonInterpreter.Of(executable);
        return (interpreter.Library(), interpreter);
    }
}
