namespace Adapter;

/// <summary>Options of the Python bridge; bound from the <c>PythonGateway</c> configuration section by <c>AddPythonGateway</c>.</summary>
public sealed class PythonGatewayOptions
{
    /// <summary>
    /// The path of libpython (for example <c>/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0</c>). When null,
    /// <c>PYTHONNET_PYDLL</c> is used, else the newest libpython3 in the usual system directories.
    /// </summary>
    public string? PythonLibrary { get; set; }

    /// <summary>Directories put at the front of <c>sys.path</c>, in this order, before any app is loaded.</summary>
    public IList<string> Paths { get; } = [];
}
