using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Adapter;

/// <summary>
/// Ends an in-process Python app stuck past the request timeout: its thread raises <c>RequestTimeoutError</c> (a
/// <c>TimeoutError</c>) through <c>PyThreadState_SetAsyncExc</c>, so a pure-Python loop stops, the iterable is closed
/// as after any failure, and the thread comes back to the pool. An app inside a native call (<c>time.sleep</c>, a
/// blocking socket read) raises it only once that call returns to the interpreter; until then the watchdog replaces
/// its worker as it replaces any stuck one.
/// </summary>
/// <remarks>
/// Raising needs the GIL, which a stuck app may hold for long (a C extension that never lets go of it), so it is done
/// on a thread of its own: the watchdog never waits for the GIL. The interrupt lands only in the app's own code, while
/// the worker still runs the timed-out request: the checks and the raise happen under the GIL; a thread found in the
/// bridge or in .NET is tried again shortly (an exception landing in the bridge could skip the iterable's close()); and
/// a worker takes back a pending interrupt under the GIL before it closes the iterable or runs Python for its next
/// request (<see cref="PythonThread.DiscardInterrupt"/>).
/// </remarks>
internal sealed class PythonInterrupter : IGatewayInterrupter, IDisposable
{
    /// <summary>How soon an interrupt that could not land is tried again.</summary>
    private static readonly TimeSpan Retry = TimeSpan.FromMilliseconds(10);

    /// <summary>How long an interrupt that could not land is tried: the watchdog's grace before it replaces the worker.</summary>
    private static readonly TimeSpan GiveUp = TimeSpan.FromSeconds(1);

    private readonly ConcurrentQueue<(GatewayWorker Worker, GatewayExchange Exchange)> _queue = new();
    private readonly SemaphoreSlim _signal = new(0);
    private readonly Lock _gate = new();
    private readonly TimeSpan _timeout;
    private readonly ILogger _logger;
    private readonly nint _exceptionType;
    private Thread? _thread;
    private volatile bool _disposed;

    /// <summary>Makes the exception class for <paramref name="timeout"/>; CPython must be running.</summary>
    public PythonInterrupter(TimeSpan timeout, ILogger logger)
    {
        _timeout = timeout;
        _logger = logger;
        using (PythonGil.Take())
        {
            var seconds = CPython.Float(timeout.TotalSeconds);
            _exceptionType = PythonRuntime.CallBridge("timeout_error\0"u8, seconds);
            CPython.DecRef(seconds);
            if (_exceptionType == 0)
            {
                throw PythonError.Fetch();
            }
        }
    }

    public bool TryInterrupt(GatewayWorker worker, GatewayExchange exchange)
    {
        // A thread that never ran Python is stuck in .NET, where nothing can be raised.
        if (_disposed || worker.Thread is not { } thread || PythonThread.Of(thread) is null)
        {
            return false;
        }

        lock (_gate)
        {
            if (_disposed)
            {
                return false;
            }

            if (_thread is null)
            {
                // Started with the first timeout, so a host whose apps never hang costs no thread.
                _thread = new Thread(Run) { IsBackground = true, Name = "Python interrupter" };
                _thread.Start();

                // Finalizing the interpreter at process exit waits for this thread, which ends on PythonRuntime.Exiting.
                PythonRuntime.RegisterThread(_thread);
            }
        }

        _queue.Enqueue((worker, exchange));
        _signal.Release();
        return true;
    }

    private void Run()
    {
        // Interrupts that could not land yet: the thread was in the bridge or in .NET, not in the app.
        var deferred = new List<(GatewayWorker Worker, GatewayExchange Exchange, long GiveUpAt)>();
        while (true)
        {
            try
            {
                if (deferred.Count == 0)
                {
                    _signal.Wait(PythonRuntime.Exiting);
                }
                else
                {
                    _signal.Wait(Retry, PythonRuntime.Exiting);
                }
            }
            catch (OperationCanceledException)
            {
                // The process exits, and the interpreter is finalized once this thread has ended: Python is left alone.
                return;
            }

            if (_disposed)
            {
                break;
            }

            var now = Environment.TickCount64;
            while (_queue.TryDequeue(out var request))
            {
                deferred.Add((request.Worker, request.Exchange, now + (long)GiveUp.TotalMilliseconds));
            }

            // Given up after a while: a thread that stays out of the app's code is replaced by the watchdog meanwhile.
            deferred.RemoveAll(pending => TryRaise(pending.Worker, pending.Exchange) || now >= pending.GiveUpAt);
        }

        // Every decref under the GIL, on this thread, which may wait for it as long as a stuck app holds it.
        using (PythonGil.Take())
        {
            CPython.DecRef(_exceptionType);
        }
    }

    /// <summary>Raises the exception in the worker's thread if it still runs the exchange's app; false to try again shortly.</summary>
    private bool TryRaise(GatewayWorker worker, GatewayExchange exchange)
    {
        string stack;
        using (PythonGil.Take())
        {
            // Under the GIL: the worker cannot move on to its next request's Python meanwhile.
            if (!worker.Runs(exchange) || worker.Thread is not { } thread || PythonThread.Of(thread) is not { } python)
            {
                return true;
            }

            // Raised only while the app's own code is innermost, so it lands there and never in the bridge.
            var ident = CPython.UnsignedInt(python.Ident.Value);
            var frames = PythonRuntime.CallBridge("app_stack\0"u8, ident);
            CPython.DecRef(ident);
            if (frames == 0)
            {
                // The bridge failed to look (it never should): not raised, the watchdog replaces the worker instead.
                CPython.ClearError();
                return true;
            }

            try
            {
                if (frames == CPython.None)
                {
                    return false;
                }

                stack = CPython.ToText(frames);
            }
            finally
            {
                CPython.DecRef(frames);
            }

            if (!python.Interrupt(_exceptionType))
            {
                return true;
            }
        }

        PythonGatewayLog.Interrupted(_logger, exchange.Method, exchange.LogPath, _timeout, worker.Name, stack);
        return true;
    }

    /// <summary>Ends the interrupter's thread; interrupts asked for after this are refused (the worker is replaced instead).</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            if (_thread is null)
            {
                // No app ever timed out: no thread to hand the exception class to.
                using (PythonGil.Take())
                {
                    CPython.DecRef(_exceptionType);
                }

                return;
            }
        }

        _signal.Release();
    }
}
