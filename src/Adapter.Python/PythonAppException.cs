using Python.Runtime;

namespace Adapter;

/// <summary>A Python exception raised by an app, carrying Python's own traceback in its message.</summary>
internal sealed class PythonAppException(string message) : GatewayForeignException(message)
{
    /// <summary>Formats <paramref name="exception"/> with its traceback; the GIL must be held.</summary>
    public static PythonAppException From(PythonException exception, string target)
    {
        string traceback;
        try
        {
            traceback = exception.Format();
        }
        catch (Exception)
        {
            traceback = exception.Message;
        }

        // Not wrapped: pythonnet's exception repeats the traceback as its stack trace.
        return new PythonAppException($"The Python app '{target}' raised {exception.Type.Name}: {exception.Message}\n{traceback.TrimEnd()}");
    }

    /// <summary>The iterable's close() raised after the body went out; <paramref name="description"/> is the bridge's, with the traceback.</summary>
    public static PythonAppException FromClose(string description, string target) =>
        new($"The close() of the Python app '{target}''s iterable raised {description}");
}
