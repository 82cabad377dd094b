namespace Adapter;

/// <summary>
/// Implemented by the target of a <see cref="GatewayApp"/> delegate that must run on a pool of its own rather
/// than the host's: the Python bridge, whose apps share one GIL and so want few threads.
/// </summary>
internal interface IGatewayWorkerPoolOwner
{
    GatewayWorkerPool Pool { get; }
}
