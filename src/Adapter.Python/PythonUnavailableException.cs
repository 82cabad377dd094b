namespace Adapter;

/// <summary>CPython could not be found or started: no libpython at the configured or usual places, or it failed to load.</summary>
public sealed class PythonUnavailableException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What was looked for, and where.</param>
    /// <param name="inner">The failure underneath, if any.</param>
    public PythonUnavailableException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}
