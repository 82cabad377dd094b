namespace Adapter;

/// <summary>A Python exception raised by an app, carrying Python's own traceback in its message.</summary>
internal sealed class PythonAppException(string message) : GatewayForeignException(message)
{
    /// <summary>The app's failure, described with its traceback (<see cref="PythonError.Description"/>).</summary>
    public static PythonAppException From(PythonError error, string target) =>
        new($"The Python app '{target}' raised {error.Description}");

    /// <summary>The iterable's close() raised after the body went out; <paramref name="description"/> is the bridge's, with the traceback.</summary>
    public static PythonAppException FromClose(string description, string target) =>
        new($"The close() of the Python app '{target}''s iterable raised {description}");
}
