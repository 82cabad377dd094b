using System.IO.Pipelines;
using System.Threading.Tasks.Sources;

namespace Adapter.Tests.Interleaving;

/// <summary>
/// A response pipe whose flushes the scheduler's random choice completes at once or leaves pending, and
/// whose "client" actor takes the bytes of a pending flush and completes it, running the writer's pump on
/// its own thread as Kestrel's flush completions do. It records every byte the client receives.
/// </summary>
internal sealed class SteppedPipe(StepScheduler scheduler, double pendingChance) : IResponsePipe
{
    private readonly MemoryStream _unflushed = new();
    private FlushSource? _pending;
    private bool _aborted;

    /// <summary>Bytes the client has received, in the order received.</summary>
    public MemoryStream Received { get; } = new();

    /// <summary>Set by the test once the request has ended: the writer must not touch the pipe after it.</summary>
    public bool RequestEnded { get; set; }

    /// <summary>What the writer did wrong, if anything.</summary>
    public List<string> Violations { get; } = [];

    public bool HasPendingFlush => _pending is not null;

    public bool IsAborted => _aborted;

    /// <summary>Set once the connection failed under the writer: every later write and flush throws, as a broken socket's do.</summary>
    public bool IsBroken { get; private set; }

    /// <summary>The connection fails: pending flushes end as canceled (the client's step completes them), later calls throw.</summary>
    public void Break()
    {
        StepScheduler.Point("pipe.break");
        IsBroken = true;
        _aborted = true;
    }

    public void Write(ReadOnlySpan<byte> data)
    {
        StepScheduler.Point("pipe.write");
        Check("write");
        if (IsBroken)
        {
            throw new IOException("Broken pipe (stepped).");
        }

        if (_pending is not null)
        {
            Violations.Add("write while a flush is pending: two owners of the pipe");
        }

        _unflushed.Write(data);
    }

    public ValueTask<FlushResult> FlushAsync()
    {
        StepScheduler.Point("pipe.flush");
        Check("flush");
        if (IsBroken)
        {
            throw new IOException("Broken pipe (stepped).");
        }

        if (_pending is not null)
        {
            Violations.Add("flush while a flush is pending: two owners of the pipe");
        }

        if (_aborted)
        {
            return new ValueTask<FlushResult>(new FlushResult(isCanceled: true, isCompleted: false));
        }

        if (scheduler.Random.NextDouble() >= pendingChance)
        {
            Deliver();
            return new ValueTask<FlushResult>(new FlushResult(isCanceled: false, isCompleted: false));
        }

        _pending = new FlushSource();
        return new ValueTask<FlushResult>(_pending, 0);
    }

    public bool IsClientGone(FlushResult result) => result.IsCanceled || result.IsCompleted || _aborted;

    public void Abort()
    {
        StepScheduler.Point("pipe.abort");
        _aborted = true;
    }

    /// <summary>How many times the writer dropped the client as silent.</summary>
    public int SilentDrops { get; private set; }

    public void DropSilentClient(TimeSpan silence)
    {
        SilentDrops++;
        Abort();
    }

    /// <summary>What the writer handed over to dispose with the request (its spool file).</summary>
    public List<IDisposable> Disposables { get; } = [];

    public void DisposeWithRequest(IDisposable resource) => Disposables.Add(resource);

    public void SpoolFailed(Exception failure) => throw new InvalidOperationException("A spool write failed in a test.", failure);

    public void WaitUntilAborted()
    {
    }

    /// <summary>The client's step: takes the pending flush's bytes (or, once aborted, none) and completes it here.</summary>
    public void CompletePending()
    {
        var pending = _pending ?? throw new InvalidOperationException("No flush is pending.");
        _pending = null;
        if (_aborted)
        {
            pending.Complete(new FlushResult(isCanceled: true, isCompleted: false));
            return;
        }

        Deliver();
        pending.Complete(new FlushResult(isCanceled: false, isCompleted: false));
    }

    private void Deliver()
    {
        _unflushed.WriteTo(Received);
        _unflushed.SetLength(0);
    }

    private void Check(string what)
    {
        if (RequestEnded)
        {
            Violations.Add($"{what} after the request ended");
        }
    }

    /// <summary>A one-shot flush result; a continuation runs inline wherever it completes or is registered late.</summary>
    private sealed class FlushSource : IValueTaskSource<FlushResult>
    {
        private FlushResult? _result;
        private Action<object?>? _continuation;
        private object? _state;

        public void Complete(FlushResult result)
        {
            _result = result;
            var continuation = _continuation;
            _continuation = null;
            continuation?.Invoke(_state);
        }

        public FlushResult GetResult(short token) => _result ?? throw new InvalidOperationException("The flush has not completed.");

        public ValueTaskSourceStatus GetStatus(short token) => _result is null ? ValueTaskSourceStatus.Pending : ValueTaskSourceStatus.Succeeded;

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        {
            if (_result is not null)
            {
                continuation(state);
                return;
            }

            _continuation = continuation;
            _state = state;
        }
    }
}
