using System.Diagnostics;

namespace Adapter;

/// <summary>The adapter's tracing source: each app run is an activity <c>gateway.app</c> under the request's own.</summary>
internal static class GatewayDiagnostics
{
    public const string SourceName = "Adapter";
    public const string AppActivityName = "gateway.app";
    public const string TimeInQueueTag = "gateway.time_in_queue";

    public static readonly ActivitySource Source = new(SourceName);
}
