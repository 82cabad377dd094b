using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Adapter;

/// <summary>
/// The dedicated threads that run gateway apps. Apps block (database drivers, synchronous body reads,
/// sleeps), so they never run on the .NET thread pool, where blocking would starve Kestrel itself.
/// Threads start lazily, up to <see cref="GatewayOptions.WorkerThreads"/>, and are kept.
/// </summary>
internal sealed class GatewayWorkerPool : IDisposable
{
    /// <summary>How long disposing waits, in all, for the worker threads to end.</summary>
    private static readonly TimeSpan JoinBudget = TimeSpan.FromSeconds(2);

    private readonly ConcurrentQueue<GatewayExchange> _queue = new();
    private readonly TimeSpan _shutdownTimeout;
    private readonly SemaphoreSlim _ready = new(0);
    private readonly List<GatewayWorker> _workers = [];
    private GatewayWatchdog? _watchdog;
    private Timer? _shutdownDeadline;
    private readonly ILogger _logger;
    private int _workerLimit;
    private readonly int _queueLimit;
    private readonly string _threadName;
    private int _queued;
    private int _live;
    private int _idle;
    private int _busy;
    private int _abandoned;
    private int _nextId;
    private volatile bool _stopping;
    private long _stoppingAt;
    private volatile bool _disposed;

    public GatewayWorkerPool(
        GatewayOptions options,
        ILoggerFactory loggerFactory,
        IHostApplicationLifetime? lifetime = null,
        IMeterFactory? meterFactory = null,
        string? name = null,
        TimeSpan? shutdownTimeout = null,
        IGatewayInterrupter? interrupter = null)
    {
        Options = options;
        Interrupter = interrupter;
        _shutdownTimeout = shutdownTimeout ?? TimeSpan.FromSeconds(30);
        SpoolBudget = new SpoolBudget(options.SpoolDiskBudget, options.SpoolDirectory);
        Metrics = new GatewayMetrics(meterFactory, () => (Volatile.Read(ref _idle), Volatile.Read(ref _busy), StuckCount), SpoolBudget, name);
        _threadName = name is null ? "Gateway worker" : $"Gateway {name} worker";
        _workerLimit = options.WorkerThreads;
        _queueLimit = options.QueueLimit;
        _logger = loggerFactory.CreateLogger(GatewayLog.CategoryName);
        if (lifetime is not null)
        {
            lifetime.ApplicationStopping.Register(static s => ((GatewayWorkerPool)s!).Stop(), this);
            lifetime.ApplicationStopped.Register(static s => ((GatewayWorkerPool)s!).Dispose(), this);
        }
    }

    public GatewayOptions Options { get; }

    /// <summary>Interrupts apps stuck past the timeout, for pools whose apps can be interrupted; null otherwise.</summary>
    public IGatewayInterrupter? Interrupter { get; }

    public GatewayMetrics Metrics { get; }

    /// <summary>The disk this pool's spool files may take together.</summary>
    public SpoolBudget SpoolBudget { get; }

    public ILogger Logger => _logger;

    /// <summary>
    /// The most threads that run apps at once (<see cref="GatewayOptions.WorkerThreads"/> at first). Raising it lets
    /// queued requests start threads at once; lowering it starts no new ones and leaves running threads be.
    /// </summary>
    public int WorkerLimit
    {
        get => Volatile.Read(ref _workerLimit);
        set
        {
            Volatile.Write(ref _workerLimit, value);
            while (Volatile.Read(ref _queued) > Volatile.Read(ref _idle) && Volatile.Read(ref _live) < value && !_disposed)
            {
                StartWorkerIfNeeded();
            }
        }
    }

    /// <summary>
    /// True once the host began stopping. Requests are still taken while the server drains (it closes idle
    /// connections and ends each open one after its response); only once the pool is disposed are they refused.
    /// </summary>
    public bool IsStopping => _stopping;

    /// <summary>True once the pool is disposed (the host has stopped): requests are refused, and queued ones answered 503.</summary>
    public bool HasStopped => _disposed;

    /// <summary>How many threads this pool runs, abandoned ones included.</summary>
    public int ThreadCount
    {
        get
        {
            lock (_workers)
            {
                return _workers.Count;
            }
        }
    }

    /// <summary>A snapshot of the workers, abandoned ones included.</summary>
    public GatewayWorker[] Workers()
    {
        lock (_workers)
        {
            return [.. _workers];
        }
    }

    /// <summary>A snapshot of the requests waiting for a worker.</summary>
    public IEnumerable<GatewayExchange> Queued() => _queue;

    public int IdleCount => Volatile.Read(ref _idle);

    /// <summary>Workers still inside an app whose request timed out: replaced ones, and those past the replacement cap.</summary>
    public int StuckCount => Workers().Count(static w => w.Current is { HasTimedOut: true });

    /// <summary>
    /// For health checks: how many workers could take a request (idle, busy within the timeout, or not started yet),
    /// and how many are stuck inside an app past its timeout (replaced ones included).
    /// </summary>
    public (int Available, int Stuck) Capacity()
    {
        var stuck = 0;
        var stuckInPlace = 0;
        foreach (var worker in Workers())
        {
            if (worker.Current is { HasTimedOut: true })
            {
                stuck++;

                // A replaced worker no longer holds a place in the pool: its replacement does.
                if (!worker.IsAbandoned)
                {
                    stuckInPlace++;
                }
            }
        }

        return (Math.Max(0, _workerLimit - stuckInPlace), stuck);
    }

    public int QueuedCount => Volatile.Read(ref _queued);

    public int BusyCount => Volatile.Read(ref _busy);

    public bool TryEnqueue(GatewayExchange exchange)
    {
        if (_disposed)
        {
            return false;
        }

        exchange.MarkQueued();

        // Only requests no worker can take at once count against the queue limit.
        var queued = Interlocked.Increment(ref _queued);
        if (queued - FreeWorkers > _queueLimit)
        {
            Interlocked.Decrement(ref _queued);
            return false;
        }

        Metrics.Queued();
        _queue.Enqueue(exchange);
        if (_disposed)
        {
            // Disposed since the check above, its queue perhaps drained already: answered here, never left waiting.
            RejectQueued();
            return true;
        }

        StartWorkerIfNeeded();

        // A worker finishing a request looks at the queue before it sleeps, so only a sleeping one needs a
        // wake-up: under load, busy workers take the queue in turn without a context switch per request.
        if (Volatile.Read(ref _idle) > 0)
        {
            _ready.Release();
        }

        return true;
    }

    /// <summary>
    /// True when a request arriving now would be refused: the host has stopped, or the queue is full. Checked
    /// before a short body is read, so a refusal is still answered at once.
    /// </summary>
    public bool IsFull =>
        _disposed || Volatile.Read(ref _queued) - FreeWorkers >= _queueLimit;

    /// <summary>Workers that could take a request at once: idle ones, and those not started yet.</summary>
    private int FreeWorkers => Volatile.Read(ref _idle) + Math.Max(0, _workerLimit - Volatile.Read(ref _live));

    /// <summary>
    /// Raised at the host's shutdown timeout, on a timer thread: the owner of requests that run outside the pool
    /// (<see cref="IGatewayAsyncApp"/>) ends them then, as the pool ends its own.
    /// </summary>
    public event Action? ShutdownDeadlineReached;

    public void Stop()
    {
        Volatile.Write(ref _stoppingAt, Environment.TickCount64);
        _stopping = true;
        var deadline = new Timer(static s => ((GatewayWorkerPool)s!).EndAtShutdownDeadline(), this, Timeout.Infinite, Timeout.Infinite);
        if (Interlocked.CompareExchange(ref _shutdownDeadline, deadline, null) is null)
        {
            deadline.Change(_shutdownTimeout, Timeout.InfiniteTimeSpan);
        }
        else
        {
            deadline.Dispose();
        }
    }

    /// <summary>
    /// At the host's shutdown timeout the server aborts the connections still open and then waits for their requests
    /// (Kestrel, a further second), which an app that cannot be interrupted would hold to the end of that wait: the
    /// requests still in an app are answered now as timed out (504, or cut short once bytes went out) and the queued
    /// ones 503, so the stop ends at the timeout. The apps go on alone; their workers are stopped with the host.
    /// </summary>
    private void EndAtShutdownDeadline()
    {
        ShutdownDeadlineReached?.Invoke();
        foreach (var worker in Workers())
        {
            if (worker.Current is { } exchange && exchange.TryTimeOut(TimeSpan.Zero))
            {
                GatewayLog.RequestTimedOut(_logger, _shutdownTimeout, exchange.Method, exchange.LogPath);
                exchange.MarkAnswered(GatewayResult.TimedOut);
                exchange.Release();
            }
        }

        RejectQueued();
    }

    /// <summary>
    /// Gives up on a worker stuck in an app past its timeout: a replacement may start, so a hung app never
    /// shrinks the pool. The stuck thread retires when the app finally returns.
    /// </summary>
    public void Abandon(GatewayWorker worker, GatewayExchange exchange)
    {
        // Threads never grow without bound: past one pool's worth of stuck threads, stop replacing them.
        var abandoned = Volatile.Read(ref _abandoned);
        if (abandoned >= _workerLimit)
        {
            GatewayLog.TooManyAbandoned(_logger, abandoned);
            return;
        }

        if (!worker.TryAbandon(exchange))
        {
            return;
        }

        Interlocked.Increment(ref _abandoned);
        Interlocked.Decrement(ref _live);
        GatewayLog.WorkerAbandoned(_logger, worker.Name);
        StartWorkerIfNeeded(replacing: true);
    }

    /// <param name="replacing">True when a stuck worker was given up on: its replacement starts at once, so the pool keeps its size.</param>
    private void StartWorkerIfNeeded(bool replacing = false)
    {
        while (true)
        {
            var live = Volatile.Read(ref _live);
            if (live >= _workerLimit || (!replacing && Volatile.Read(ref _idle) >= Volatile.Read(ref _queued)))
            {
                return;
            }

            if (Interlocked.CompareExchange(ref _live, live + 1, live) == live)
            {
                var worker = new GatewayWorker($"{_threadName} {Interlocked.Increment(ref _nextId)}");
                var thread = new Thread(() => Run(worker))
                {
                    IsBackground = true,
                    Name = worker.Name,
                };
                worker.Thread = thread;
                lock (_workers)
                {
                    _workers.Add(worker);

                    // Started with the first worker, so a pool that never runs an app costs no thread.
                    if (_watchdog is null && Options.RequestTimeout != Timeout.InfiniteTimeSpan)
                    {
                        _watchdog = new GatewayWatchdog(this, Options.RequestTimeout);
                    }
                }

                thread.Start();
                GatewayLog.WorkerStarted(_logger, worker.Name);
                return;
            }
        }
    }

    private void Run(GatewayWorker worker)
    {
        try
        {
            RunLoop(worker);
        }
        finally
        {
            // A thread leaves the list only itself, when it ends: a thread added but not yet started is never lost.
            lock (_workers)
            {
                _workers.Remove(worker);
            }
        }
    }

    private void RunLoop(GatewayWorker worker)
    {
        while (!_disposed)
        {
            // Idle is counted before the queue is looked at: an enqueuer that finds no idle worker knows every
            // worker will look at the queue again before it sleeps, so no request is left waiting unseen.
            Interlocked.Increment(ref _idle);
            if (!TryDequeue(out var exchange))
            {
                // A worker never sleeps holding what another needs (the GIL a Python app's thread kept past its body).
                GatewayBlocking.BeforeWait();
                _ready.Wait();
                Interlocked.Decrement(ref _idle);
                continue;
            }

            Interlocked.Decrement(ref _idle);
            Interlocked.Increment(ref _busy);
            worker.Begin(exchange);
            try
            {
                exchange.Execute();
            }
            finally
            {
                Interlocked.Decrement(ref _busy);
            }

            if (worker.End())
            {
                Interlocked.Decrement(ref _abandoned);
                return;
            }
        }
    }

    private bool TryDequeue([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out GatewayExchange? exchange)
    {
        while (_queue.TryDequeue(out exchange))
        {
            // A request answered while queued (timed out) has left the count already; it is skipped here.
            if (exchange.TryLeaveQueue())
            {
                LeftQueue(exchange);
                return true;
            }
        }

        return false;
    }

    /// <summary>A queued request was answered (504) before a worker took it: it no longer waits, nor counts against the limit.</summary>
    public void AnsweredWhileQueued(GatewayExchange exchange)
    {
        if (exchange.TryLeaveQueue())
        {
            LeftQueue(exchange);
        }
    }

    /// <summary>
    /// Drops the entries of requests answered while queued from the head of the queue (the watchdog calls it each
    /// tick), so they do not pile up while every worker is stuck. Timeouts come in arrival order, so answered
    /// entries gather at the head.
    /// </summary>
    public void PurgeAnswered()
    {
        while (_queue.TryPeek(out var head) && head.HasLeftQueue)
        {
            if (!_queue.TryDequeue(out var taken))
            {
                return;
            }

            if (!taken.HasLeftQueue)
            {
                // A worker took the answered head between the peek and the dequeue, so this one is live: it goes
                // back (at the tail), and a sleeping worker is woken for it.
                _queue.Enqueue(taken);
                if (Volatile.Read(ref _idle) > 0)
                {
                    _ready.Release();
                }

                return;
            }
        }
    }

    private void LeftQueue(GatewayExchange exchange)
    {
        Interlocked.Decrement(ref _queued);
        Metrics.Dequeued(exchange.QueuedAt);
    }

    /// <summary>Answers 503 to the requests still queued once the pool is disposed; the app is never called for them.</summary>
    private void RejectQueued()
    {
        while (TryDequeue(out var exchange))
        {
            exchange.Reject();
        }
    }

    /// <summary>Stops and joins the workers; requests still queued are answered 503.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _stopping = true;
        _disposed = true;
        Interlocked.Exchange(ref _shutdownDeadline, null)?.Dispose();
        GatewayWatchdog? watchdog;
        lock (_workers)
        {
            watchdog = _watchdog;
        }

        // One deadline for the watchdog and all workers: at most JoinBudget, and never past the host's shutdown
        // timeout counted from when stopping began. By now the server has stopped, so a worker still inside an
        // app is stuck, and joining each in turn would make the stop last as many timeouts as there are stuck apps.
        var now = Environment.TickCount64;
        var budget = (long)JoinBudget.TotalMilliseconds;
        var stoppingAt = Volatile.Read(ref _stoppingAt);
        if (stoppingAt != 0)
        {
            budget = Math.Min(budget, Math.Max(0, stoppingAt + (long)_shutdownTimeout.TotalMilliseconds - now));
        }

        var deadline = now + budget;

        // Outside the lock: the watchdog takes it to list the workers.
        watchdog?.Dispose(TimeSpan.FromMilliseconds(budget));

        RejectQueued();

        var workers = Workers();
        if (workers.Length > 0)
        {
            _ready.Release(workers.Length);
        }

        foreach (var worker in workers)
        {
            // A worker still inside an app cannot be interrupted; it is a background thread and dies with the process.
            worker.Thread?.Join(TimeSpan.FromMilliseconds(Math.Max(0, deadline - Environment.TickCount64)));
        }

        Metrics.Dispose();
    }
}
