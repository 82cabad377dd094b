namespace Adapter;

/// <summary>
/// The process that runs an app failed (it died, or none was free to take the request): answered 502 Bad
/// Gateway when the response has not started, cut short like any app failure when it has.
/// </summary>
internal sealed class GatewayUpstreamException(string message, Exception? inner = null) : Exception(message, inner);
