namespace Adapter;

/// <summary>
/// The one lock of a response's body hand-over, with its condition. In the host it is a plain monitor; the
/// interleaving tests subclass it so that every enter, exit, wait and pulse is a point where a test scheduler
/// decides which thread runs next.
/// </summary>
internal class HandOffGate
{
    public virtual void Enter() => Monitor.Enter(this);

    public virtual void Exit() => Monitor.Exit(this);

    /// <summary>Waits for a pulse, at most <paramref name="milliseconds"/> (or <see cref="Timeout.Infinite"/>); the gate must be held.</summary>
    public virtual bool Wait(int milliseconds) => Monitor.Wait(this, milliseconds);

    public virtual void PulseAll() => Monitor.PulseAll(this);

    /// <summary>
    /// A signal an asynchronous sender awaits and the pump completes, outside the gate. In the host its waiter goes on
    /// elsewhere (on the thread pool), never inside the pump; the interleaving tests run it inline, on a stepped actor.
    /// </summary>
    public virtual TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
