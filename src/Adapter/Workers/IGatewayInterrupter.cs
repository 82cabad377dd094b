namespace Adapter;

/// <summary>
/// Interrupts an app that is stuck past its request timeout, where the app's runtime allows it (the in-process Python
/// bridge raises an exception in the stuck Python thread). A worker asked to stop gets a grace to come back to its
/// pool; one still stuck after it is replaced as any stuck worker is.
/// </summary>
internal interface IGatewayInterrupter
{
    /// <summary>
    /// Asks for the app that <paramref name="worker"/> runs for <paramref name="exchange"/> to be interrupted, if the
    /// worker still runs it when the interrupt lands. Called on the watchdog thread: it must not block.
    /// </summary>
    /// <returns>False when this worker's app cannot be interrupted: it is replaced at once.</returns>
    bool TryInterrupt(GatewayWorker worker, GatewayExchange exchange);
}
