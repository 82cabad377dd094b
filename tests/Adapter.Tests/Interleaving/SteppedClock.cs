namespace Adapter.Tests.Interleaving;

/// <summary>A clock that stands still until a stepped timed wait runs out and moves it on by the whole wait.</summary>
internal sealed class SteppedClock : TimeProvider
{
    // Far from 0, which the body writer reads as "no time recorded".
    private long _milliseconds = 1_000_000;

    public override long TimestampFrequency => 1000;

    public override long GetTimestamp() => Interlocked.Read(ref _milliseconds);

    public void Advance(int milliseconds) => Interlocked.Add(ref _milliseconds, milliseconds);
}
