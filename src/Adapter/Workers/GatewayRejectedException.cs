namespace Adapter;

/// <summary>Thrown by an <see cref="IGatewayAsyncApp"/> that cannot take a request at all (the host is stopping): answered 503.</summary>
internal sealed class GatewayRejectedException(string message) : Exception(message);
