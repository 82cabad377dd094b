using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

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

    private static readonly ConditionalWeakTable<Thread, PythonThread> ByThread = new();

    private nint _saved;
    private int _depth;

    // The GIL still held past the outermost Exit (Linger), until this thread enters Python again or would wait.
    private bool _lingering;
    private Action? _letGo;

    // Guarded by the GIL: set when an exception was raised in this thread, taken back before its next request.
    private bool _interrupted;

    private PythonThread()
    {
    }

    /// <summary>The calling thread's state, created (and registered for shutdown) on first use.</summary>
    public static PythonThread Current => t_current ??= Create();

    /// <summary>The thread's id in Python (<c>threading.get_ident()</c>).</summary>
    public CULong Ident { get; private init; }

    /// <summary>The state of <paramref name="thread"/>, or null when it never ran Python.</summary>
    public static PythonThread? Of(Thread thread) => ByThread.TryGetValue(thread, out var state) ? state : null;

    /// <summary>
    /// Raises <paramref name="exceptionType"/> in this thread at its next Python bytecode (a thread inside a native
    /// call raises it once the call returns). The GIL must be held, by another thread.
    /// </summary>
    /// <returns>False when the thread has no Python state any more.</returns>
    public bool Interrupt(nint exceptionType)
    {
        _interrupted = true;
        return CPython.SetAsyncExc(Ident, exceptionType) == 1;
    }

    /// <summary>
    /// Takes back an exception raised for a request that ended before it landed, so it never hits the next one; the
    /// GIL must be held by this thread, before it runs Python for a new request.
    /// </summary>
    public void DiscardInterrupt()
    {
        if (_interrupted)
        {
            _interrupted = false;
            CPython.SetAsyncExc(Ident, 0);
        }
    }

    private static PythonThread Create()
    {
        PythonRuntime.RegisterThread(Thread.CurrentThread);

        // PyGILState_Ensure creates this thread's state; its matching release never comes, so the state lives
        // as long as the thread. Releasing the GIL keeps the state.
        CPython.GilStateEnsure();
        var state = new PythonThread { Ident = CPython.ThreadIdent() };
        ByThread.AddOrUpdate(Thread.CurrentThread, state);
        state._saved = CPython.SaveThread();
        return state;
    }

    /// <summary>
    /// Takes the GIL with this thread's state (kept from <see cref="Linger"/>, or waited for); calls nest, and each must
    /// be paired with <see cref="Exit"/> or <see cref="Linger"/>.
    /// </summary>
    public void Enter()
    {
        if (_depth++ == 0)
        {
            if (_lingering)
            {
                _lingering = false;
                GatewayBlocking.Clear();
            }
            else
            {
                CPython.RestoreThread(_saved);
            }
        }
    }

    /// <summary>Lets go of the GIL after the outermost <see cref="Enter"/>.</summary>
    public void Exit()
    {
        if (--_depth == 0)
        {
            _saved = CPython.SaveThread();
        }
    }

    /// <summary>
    /// <see cref="Exit"/>, except that the GIL stays with this thread while the adapter hands over the chunk just taken
    /// and comes back for the next one: the next <see cref="Enter"/> finds it held, and a hand-over of the GIL to
    /// another thread and back (two wake-ups, and a wait for that thread's whole Python step) is saved. The GIL goes
    /// the moment the adapter would wait (<see cref="GatewayBlocking.BeforeWait"/>), or with <see cref="LetGo"/>.
    /// Only for a thread that walks the body itself, to its end or Dispose (<see cref="GatewayExchange.CallsDirectly"/>).
    /// </summary>
    public void Linger()
    {
        if (--_depth == 0)
        {
            _lingering = true;
            GatewayBlocking.LetGoBeforeWaiting(_letGo ??= LetGo);
        }
    }

    /// <summary>Lets go of a GIL kept by <see cref="Linger"/>; nothing when none is kept.</summary>
    public void LetGo()
    {
        if (_lingering)
        {
            _lingering = false;
            GatewayBlocking.Clear();
            _saved = CPython.SaveThread();
        }
    }
}
