namespace Adapter;

/// <summary>
/// Stands in for an app failure the adapter has already logged whole, when it goes on into Kestrel to cut the
/// response short: Kestrel's entry then holds this one line, not a second copy of a Python traceback.
/// </summary>
internal sealed class GatewayAppFailedException(string message) : Exception(message);
