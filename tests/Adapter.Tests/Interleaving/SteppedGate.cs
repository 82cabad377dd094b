namespace Adapter.Tests.Interleaving;

/// <summary>
/// <see cref="HandOffGate"/> under a <see cref="StepScheduler"/>: entering, leaving, waiting and pulsing are
/// each a scheduling point, and a waiter wakes only when pulsed, as the monitor allows at the least.
/// </summary>
internal sealed class SteppedGate : HandOffGate
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

        // A finite wait may also time out: only when nothing else can run, so a timeout is never what unblocks a bug.
        StepScheduler.BlockUntil("gate.wait", () => _owner is null && _pulsed.Contains(me));
        _waiting.Remove(me);
        _owner = me;
        return _pulsed.Remove(me);
    }

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
