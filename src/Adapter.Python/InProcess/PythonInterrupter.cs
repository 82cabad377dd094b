using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Python.Runtime;

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
/// on a thread of its own: the watchdog never waits for the GIL. The interrupt lands only while the worker still runs
/// the timed-out request: the check and the raise happen under the GIL, and a worker takes back a pending interrupt
/// under the GIL before it runs Python for its next request (<see cref="PythonThread.DiscardInterrupt"/>).
/// </remarks>
internal sealed class PythonInterrupter : IGatewayInterrupter, IDisposable
{
    private readonly ConcurrentQueue<(GatewayWorker Worker, GatewayExchange Exchange)> _queue = new();
    private readonly SemaphoreSlim _signal = new(0);
    private readonly Lock _gate = new();
    private readonly TimeSpan _timeout;
    private readonly ILogger _logger;
    private readonly PyObject _exceptionType;
    private Thread? _thread;
    private volatile bool _disposed;

    /// <summary>Makes the exception class for <paramref name="timeout"/>; CPython must be running.</summary>
    public PythonInterrupter(TimeSpan timeout, ILogger logger)
    {
        _timeout = timeout;
        _logger = logger;
        using (Py.GIL())
        {
            using var seconds = new PyFloat(timeout.TotalSeconds);
            _exceptionType = PythonRuntime.Bridge.InvokeMethod("timeout_error", seconds);
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
            }
        }

        _queue.Enqueue((worker, exchange));
        _signal.Release();
        return true;
    }

    private void Run()
    {
        while (true)
        {
            _signal.Wait();
            if (_disposed || PythonRuntime.IsStopping)
            {
                break;
            }

            while (_queue.TryDequeue(out var request))
            {
                Interrupt(request.Worker, request.Exchange);
            }
        }

        // Every decref under the GIL, on this thread, which may wait for it as long as a stuck app holds it.
        if (!PythonRuntime.IsStopping)
        {
            using (Py.GIL())
            {
                _exceptionType.Dispose();
            }
        }
    }

    private void Interrupt(GatewayWorker worker, GatewayExchange exchange)
    {
        string stack;
        using (Py.GIL())
        {
            // Under the GIL: the worker cannot move on to its next request's Python meanwhile.
            if (!worker.Runs(exchange) || worker.Thread is not { } thread || PythonThread.Of(thread) is not { } python)
            {
                return;
            }

            using var ident = new PyInt((ulong)python.Ident.Value);
            using var frames = PythonRuntime.Bridge.InvokeMethod("stack_of", ident);
            stack = frames.As<string>();
            if (!python.Interrupt(_exceptionType))
            {
                return;
            }
        }

        PythonGatewayLog.Interrupted(_logger, exchange.Method, exchange.LogPath, _timeout, worker.Name, stack.Length == 0 ? "(in native code)" : stack);
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
                using (Py.GIL())
                {
                    _exceptionType.Dispose();
                }

                return;
            }
        }

        _signal.Release();
    }
}
