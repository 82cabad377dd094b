namespace Adapter;

/// <summary>One dedicated worker thread's identity within its pool.</summary>
internal sealed class GatewayWorker(string name)
{
    private readonly Lock _gate = new();
    private GatewayExchange? _current;
    private bool _abandoned;

    public string Name { get; } = name;

    /// <summary>The thread this worker runs on; set once, before it starts.</summary>
    public Thread? Thread { get; set; }

    /// <summary>The request the worker runs now, if any.</summary>
    public GatewayExchange? Current
    {
        get
        {
            lock (_gate)
            {
                return _current;
            }
        }
    }

    public void Begin(GatewayExchange exchange)
    {
        lock (_gate)
        {
            _current = exchange;
        }
    }

    /// <summary>Ends the current exchange; true when the worker was abandoned meanwhile and must retire.</summary>
    public bool End()
    {
        lock (_gate)
        {
            _current = null;
            return _abandoned;
        }
    }

    /// <summary>
    /// Abandons the worker if it is still running <paramref name="exchange"/>. A worker that already moved on
    /// is free, so a late watchdog can never retire a healthy worker.
    /// </summary>
    public bool TryAbandon(GatewayExchange exchange)
    {
        lock (_gate)
        {
            if (_abandoned || !ReferenceEquals(_current, exchange))
            {
                return false;
            }

            _abandoned = true;
            return true;
        }
    }
}
