namespace Adapter;

/// <summary>
/// Thrown into an app that comes back after its request timed out: the adapter already answered the
/// client and no longer accepts this app's output.
/// </summary>
internal sealed class RequestTimedOutException()
    : TimeoutException("The request timed out; the adapter no longer accepts this app's output.");
