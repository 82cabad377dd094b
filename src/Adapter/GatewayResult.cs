namespace Adapter;

/// <summary>How a request ended, as the <c>gateway.result</c> metric tag tells it.</summary>
internal enum GatewayResult
{
    Completed,
    Rejected,
    TimedOut,
    Canceled,
    Failed,
}
