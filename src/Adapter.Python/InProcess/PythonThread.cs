using Python.Runtime;

namespace Adapter;

/// <summary>
/// A thread's own, persistent CPython thread state. The first call on a thread creates the state and never
/// releases it, so <c>threading.local</c> data in an app survives from one request to the next on that
/// thread; between calls the thread lets go of the GIL but keeps its state.
/// </summary>
internal sealed class PythonThread
{
    [ThreadStatic]
    private static PythonThread? t_current;

    private nint _saved;
    private int _depth;

    private PythonThread()
    {
    }

    /// <summary>The calling thread's state, created (and registered for shutdown) on first use.</summary>
    public static PythonThread Current => t_current ??= Create();

    private static PythonThread Create()
    {
        PythonRuntime.RegisterThread(Thread.CurrentThread);

        // PyGILState_Ensure creates this thread's state; its matching release never comes, so the state lives
        // as long as the thread. Releasing the GIL keeps the state.
        PythonNative.EnsureGil();
        return new PythonThread { _saved = PythonEngine.BeginAllowThreads() };
    }

    /// <summary>Takes the GIL with this thread's state; calls nest, and each must be paired with <see cref="Exit"/>.</summary>
    public void Enter()
    {
        if (_depth++ == 0)
        {
            PythonEngine.EndAllowThreads(_saved);
        }
    }

    /// <summary>Lets go of the GIL after the outermost <see cref="Enter"/>.</summary>
    public void Exit()
    {
        if (--_depth == 0)
        {
            _saved = PythonEngine.BeginAllowThreads();
        }
    }
}
