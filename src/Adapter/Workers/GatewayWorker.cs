namespace Adapter;

/// <summary>One dedicated worker thread's identity within its pool.</summary>
internal sealed class GatewayWorker(string name)
{
    private readonly Lock _gate = new();
    private GatewayExchange? _current;
    private GatewayExchange? _interrupted;
    private long _interruptedAt;
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

    /// <summary>True once the pool gave up on this worker: it retires when its app returns.</summary>
    public bool IsAbandoned
    {
        get
        {
            lock (_gate)
            {
                return _abandoned;
            }
        }
    }

    /// <summary>True while the worker runs <paramref name="exchange"/>.</summary>
    public bool Runs(GatewayExchange exchange)
    {
        lock (_gate)
        {
            return ReferenceEquals(_current, exchange);
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
            _interrupted = null;
            return _abandoned;
        }
    }

    /// <summary>
    /// Notes that the app running <paramref name="exchange"/> was asked to stop at <paramref name="now"/>
    /// (<see cref="Environment.TickCount64"/>); false when the worker already moved on.
    /// </summary>
    public bool TryMarkInterrupted(GatewayExchange exchange, long now)
    {
        lock (_gate)
        {
            if (!ReferenceEquals(_current, exchange))
            {
                return false;
            }

            _interrupted = exchange;
            _interruptedAt = now;
            return true;
        }
    }

    /// <summary>
    /// The exchange whose app was asked to stop at or before <paramref name="deadline"/> and still runs, once: its
    /// worker did not come back within the grace and is to be replaced. Null otherwise.
    /// </summary>
    public GatewayExchange? TakeOverdueInterrupt(long deadline)
    {
        lock (_gate)
        {
            if (_interrupted is not { } interrupted || _interruptedAt > deadline)
            {
                return null;
            }

            _interrupted = null;
            return ReferenceEquals(_current, interrupted) ? interrupted : null;
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
