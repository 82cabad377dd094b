namespace Adapter;

/// <summary>
/// Enforces <see cref="GatewayOptions.RequestTimeout"/> for one pool from a dedicated thread: each tick it
/// looks at the request every worker runs and at the queued ones, and times out those whose app has been
/// silent too long. One thread per pool instead of a timer per request: nothing is allocated per request,
/// and a thread pool busy with Kestrel's work cannot delay a timeout.
/// </summary>
/// <remarks>
/// A timed-out worker is replaced at once, unless its pool can interrupt the app (<see cref="IGatewayInterrupter"/>):
/// then the app is asked to stop, and its worker is replaced only if it is still stuck one grace later. A worker
/// that comes back in time goes on serving, so the pool never needs a thread more than its size.
/// </remarks>
internal sealed class GatewayWatchdog : IDisposable
{
    private readonly GatewayWorkerPool _pool;
    private readonly TimeSpan _timeout;
    private readonly TimeSpan _tick;
    private readonly long _interruptGrace;
    private readonly ManualResetEventSlim _stop = new();
    private readonly Thread? _thread;

    /// <param name="pool">The pool whose requests it watches.</param>
    /// <param name="timeout">The request timeout.</param>
    /// <param name="start">False for a watchdog whose <see cref="Check"/> a test calls itself, step by step.</param>
    public GatewayWatchdog(GatewayWorkerPool pool, TimeSpan timeout, bool start = true)
    {
        _pool = pool;
        _timeout = timeout;

        // A tenth of the timeout, within 10 ms to 500 ms: a timeout fires at most that late.
        _tick = TimeSpan.FromMilliseconds(Math.Clamp(timeout.TotalMilliseconds / 10, 10, 500));

        // Time for an interrupted app to leave (a pure-Python loop ends within milliseconds once the exception is
        // raised): one second, or the timeout when shorter, and never less than a tick.
        _interruptGrace = (long)Math.Max(_tick.TotalMilliseconds, Math.Min(timeout.TotalMilliseconds, 1000));
        if (start)
        {
            _thread = new Thread(Run) { IsBackground = true, Name = "Gateway watchdog" };
            _thread.Start();
        }
    }

    private void Run()
    {
        while (!_stop.Wait(_tick))
        {
            var interruptedBefore = Environment.TickCount64 - _interruptGrace;
            foreach (var worker in _pool.Workers())
            {
                if (worker.TakeOverdueInterrupt(interruptedBefore) is { } overdue)
                {
                    // Interrupted, yet still inside the app (stuck in native code, or it swallowed the exception).
                    _pool.Abandon(worker, overdue);
                }

                if (worker.Current is { } exchange)
                {
                    Check(exchange, worker);
                }
            }

            foreach (var exchange in _pool.Queued())
            {
                Check(exchange, worker: null);
            }

            _pool.PurgeAnswered();
        }
    }

    /// <summary>Times <paramref name="exchange"/> out if its app has been silent too long: run by <paramref name="worker"/>, or queued when null.</summary>
    internal void Check(GatewayExchange exchange, GatewayWorker? worker)
    {
        if (!exchange.TryTimeOut(_timeout))
        {
            return;
        }

        GatewayLog.RequestTimedOut(_pool.Logger, _timeout, exchange.Method, exchange.LogPath);
        exchange.MarkAnswered(GatewayResult.TimedOut);
        if (worker is not null)
        {
            if (_pool.Interrupter is not { } interrupter)
            {
                _pool.Abandon(worker, exchange);
            }
            else if (worker.TryMarkInterrupted(exchange, Environment.TickCount64) && !interrupter.TryInterrupt(worker, exchange))
            {
                worker.TakeOverdueInterrupt(long.MaxValue);
                _pool.Abandon(worker, exchange);
            }
        }
        else
        {
            _pool.AnsweredWhileQueued(exchange);
        }

        // The request's own flow answers the client (504, or a cut connection) once its wait ends.
        exchange.Release();
    }

    /// <summary>Stops the watchdog, waiting for its thread at most <paramref name="wait"/> (it ends within a tick).</summary>
    public void Dispose(TimeSpan wait)
    {
        _stop.Set();
        if (_thread is null || _thread.Join(wait))
        {
            _stop.Dispose();
        }
    }

    public void Dispose() => Dispose(TimeSpan.FromSeconds(5));
}
