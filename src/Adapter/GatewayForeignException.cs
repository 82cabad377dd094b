namespace Adapter;

/// <summary>
/// An app failure from another runtime, its message carrying that runtime's own traceback (a Python app's).
/// The adapter answers it itself, a plain 500 before the headers or an aborted connection after them, and logs
/// it once (events 1 and 2); it is not rethrown into the ASP.NET Core pipeline, which would log it again.
/// </summary>
internal abstract class GatewayForeignException(string message, Exception? inner = null) : Exception(message, inner);
