namespace Adapter;

/// <summary>One dedicated worker thread's identity within its pool.</summary>
internal sealed class GatewayWorker(string name)
{
    public string Name { get; } = name;

    public GatewayWorkerPool? Pool { get; set; }

    /// <summary>Set when the worker stayed in an app past its timeout and a replacement took its place.</summary>
    public volatile bool IsAbandoned;
}
