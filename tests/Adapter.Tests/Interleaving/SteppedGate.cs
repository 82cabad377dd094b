namespace Adapter.Tests.Interleaving;

/// <summary>
/// <see cref="HandOffGate"/> under a <see cref="StepScheduler"/>: entering, leaving, waiting and pulsing are
/// each a scheduling point, and a waiter wakes only when pulsed, as the monitor allows at the least. A wait with
/// a time limit returns false (timed out) only when no actor can run.
/// </summary>
/// <param name="clock">The clock a timed-out wait moves on, if the code under test reads one.</param>
internal sealed class SteppedGate(SteppedClock? clock = null) : HandOffGate
{
    private readonly HashSet<StepScheduler.Actor> _pulsed = [];
    private readonly HashSet<StepScheduler.Actor> _waiting = [];
    private StepScheduler.Actor? _owner;

    public override void Enter()
    {
        var me = StepScheduler.Current ?? throw new InvalidOperationException("The stepped gate is for stepped actors only.");
        StepScheduler.BlockUntil("gate.enter", () => _owner is null);
        _owner = me;
    }

    public override void Exit()
    {
        CheckOwner();
        _owner = null;
        StepScheduler.Point("gate.exit");
    }

    public override bool Wait(int milliseconds)
    {
        var me = CheckOwner();
        _waiting.Add(me);
        _pulsed.Remove(me);
        _owner = null;

        if (milliseconds == Timeout.Infinite)
        {
            StepScheduler.BlockUntil("gate.wait", () => _owner is null && _pulsed.Contains(me));
        }
        else if (!StepScheduler.BlockUntilOrTimeout("gate.wait", () => _owner is null && _pulsed.Contains(me)))
        {
            // A finite wait times out only when nothing else can run, and then the whole wait has passed.
            clock?.Advance(milliseconds);
            StepScheduler.BlockUntil("gate.reenter", () => _owner is null);
        }

        _waiting.Remove(me);
        _owner = me;
        return _pulsed.Remove(me);
    }

    /// <summary>Completed inline: the asynchronous sender goes on on the actor that completes it, under the scheduler.</summary>
    public override TaskCompletionSource NewSignal() => new(TaskCreationOptions.None);

    public override void PulseAll()
    {
        CheckOwner();
        _pulsed.UnionWith(_waiting);
        StepScheduler.Point("gate.pulse");
    }

    private StepScheduler.Actor CheckOwner()
    {
        var me = StepScheduler.Current;
        if (me is null || !ReferenceEquals(_owner, me))
        {
            throw new SynchronizationLockException("The gate is not held by the calling actor.");
        }

        return me;
    }
}
