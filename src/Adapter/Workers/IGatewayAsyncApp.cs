namespace Adapter;

/// <summary>
/// Implemented by the target of a <see cref="GatewayApp"/> delegate whose app runs outside the host (a Python worker
/// process): the handler then runs each request on the request's own flow, holding no gateway worker thread while
/// the app works, waits for a free worker, or waits for a slow client. The delegate itself still works where it is
/// called directly, on a worker thread.
/// </summary>
internal interface IGatewayAsyncApp
{
    /// <summary>True when a request arriving now could not be taken at once and the queue of those waiting is full.</summary>
    bool IsFull { get; }

    /// <summary>
    /// Runs the app for one request: waits for a free worker, then calls <see cref="GatewayExchange.MarkRunning"/>,
    /// hands the status, headers and body to <see cref="GatewayExchange.Response"/> and returns once the body has
    /// ended. Throws as an app does; <see cref="RequestTimedOutException"/> when the app was silent past the
    /// request timeout, <see cref="GatewayRejectedException"/> when no worker can take the request (the host stops).
    /// </summary>
    Task RunAsync(GatewayExchange exchange);
}
