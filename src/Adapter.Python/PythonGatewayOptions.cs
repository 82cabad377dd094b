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

    /// <summary>
    /// The worker threads that run Python apps, a pool apart from the C# apps' (queue limit and request timeout
    /// come from <see cref="GatewayOptions"/>). Python runs one thread at a time under the GIL, and more threads
    /// waiting for it cost more than they bring (measured on the sample's Flask hello: 11.1k requests/s with 2
    /// threads, 8.6k with 4, 7.5k with 16); raise it for apps that wait on I/O. Default: 2.
    /// </summary>
    public int Threads { get; set; } = 2;
}
