using System.Buffers;
using System.IO.Pipelines;

namespace Adapter;

/// <summary>
/// Moves a response's body from the worker thread into the response pipe, with at most
/// <see cref="GatewayOptions.ResponseBufferSize"/> bytes taken ahead of a slow client.
/// </summary>
/// <remarks>
/// <para>
/// One side owns the pipe at a time. In <see cref="Idle"/> the worker writes and flushes straight into it; a
/// response whose client keeps up never takes the gate. When a flush is left pending, the worker hands the
/// pipe to the pump (<see cref="Flushing"/>): from then on the worker only appends copies to the queue, under
/// the gate, and the pump, continued by each flush's completion, writes the queue into the pipe in batches.
/// </para>
/// <para>
/// The pump hands the pipe back in one step, under the gate: it looks at the queue and, finding it empty,
/// sets <see cref="Idle"/> before it lets go, so no chunk can be queued behind a pump that has ended
/// (invariant: in <see cref="Idle"/> and <see cref="Failed"/> the queue is empty). Only the worker leaves
/// <see cref="Idle"/>; only the pump leaves <see cref="Flushing"/>, and it touches the response only while
/// the state is <see cref="Flushing"/>: the request may end the moment it is not.
/// </para>
/// <para>
/// A chunk that does not fit the buffer goes to the response's spool file instead (up to the spool limit and
/// the pool's disk budget), as an entry of the same queue: the pump writes entries in queue order, reading a
/// spooled one back from the file, so order holds whichever medium a chunk took. The worker blocks only when
/// neither has room, and then for no longer than the client's silence allows: a client that takes no bytes for
/// the client timeout is dropped.
/// </para>
/// </remarks>
internal sealed class GatewayBodyWriter
{
    private const int Idle = 0;
    private const int Flushing = 1;
    private const int Failed = 2;

    private const int SegmentSize = 4096;

    // By default the pump flushes at most this much at a time (the default ResponseBufferSize, so a default batch
    // goes in one flush: fewer, larger flushes cost less CPU per byte). Each completed flush shows the client took
    // bytes, so the silence rule sees a reading client's progress at least every this many bytes, whatever the
    // buffer size.
    private const int DefaultSliceSize = 256 * 1024;

    private static readonly TimeSpan AbortGrace = TimeSpan.FromSeconds(5);

    private readonly IResponsePipe _pipe;
    private readonly int _bufferSize;
    private readonly TimeSpan _silenceLimit;
    private readonly int _sliceSize;
    private readonly SpoolBudget? _spoolBudget;
    private readonly long _spoolLimit;
    private readonly TimeProvider _time;

    // Created when a flush is first left pending: a response the client keeps up with allocates none of them.
    private HandOffGate? _gate;
    private List<Segment>? _queue;
    private List<Segment>? _batch;
    private Action? _onFlushed;
    private TaskCompletionSource? _idle;
    private TaskCompletionSource? _room;
    private SpoolFile? _spool;

    private int _state;
    private int _queuedBytes;
    private long _spooledBytes;
    private long _flushesDone;
    private int _batchNext;
    private Exception? _failure;
    private ValueTask<FlushResult> _flush;

    /// <param name="pipe">The response pipe.</param>
    /// <param name="bufferSize">Bytes that may wait in the queue while a flush is pending.</param>
    /// <param name="silenceLimit">How long the worker waits for a client that takes no bytes; infinite to wait for ever.</param>
    /// <param name="gate">The gate to use from the start (interleaving tests); by default one is made when first needed.</param>
    /// <param name="sliceSize">The most the pump writes per flush (whole segments; at least one).</param>
    /// <param name="spoolBudget">Where spool files come from; null not to spool.</param>
    /// <param name="spoolLimit">The most this response may spool.</param>
    /// <param name="time">The clock of the silence rule (the interleaving tests step it); the system's by default.</param>
    public GatewayBodyWriter(
        IResponsePipe pipe,
        int bufferSize,
        TimeSpan silenceLimit,
        HandOffGate? gate = null,
        int sliceSize = DefaultSliceSize,
        SpoolBudget? spoolBudget = null,
        long spoolLimit = 0,
        TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        _spoolBudget = spoolLimit > 0 ? spoolBudget : null;
        _spoolLimit = spoolLimit;
        _sliceSize = sliceSize;
        _pipe = pipe;
        _bufferSize = bufferSize;
        _silenceLimit = silenceLimit;
        _gate = gate;
    }

    /// <summary>The writer's state in words, for a diagnostic when a response stalls.</summary>
    public string Describe() =>
        $"state {(Volatile.Read(ref _state) switch { Idle => "idle", Flushing => "flushing", _ => "failed" })}, " +
        $"{Volatile.Read(ref _queuedBytes)} bytes queued, {Volatile.Read(ref _spooledBytes)} spooled, {Volatile.Read(ref _flushesDone)} flushes done by the pump, " +
        $"pending flush completed: {(Volatile.Read(ref _state) == Flushing ? _flush.IsCompleted.ToString() : "-")}";

    /// <summary>Bytes this response has written to its spool file.</summary>
    public long SpoolLength => _spool?.Length ?? 0;

    /// <summary>True once the client is known to be gone; nothing more is written.</summary>
    public bool HasFailed => Volatile.Read(ref _state) == Failed;

    /// <summary>
    /// Sends <paramref name="data"/>, or queues a copy of it behind a pending flush; on the worker thread.
    /// Throws <see cref="ClientDisconnectedException"/> once the client is gone.
    /// </summary>
    public void Send(ReadOnlySpan<byte> data)
    {
        // Only the worker leaves Idle, so Idle seen here holds until this call leaves it.
        var state = Volatile.Read(ref _state);
        if (state == Failed)
        {
            throw Gone();
        }

        if (state != Idle && Enqueue(data, mustOwn: data.Length > _bufferSize))
        {
            return;
        }

        WriteAndFlush(data);
    }

    /// <summary>
    /// <see cref="Send"/> for a sender that must not block a thread (the worker-process path, which runs on the thread
    /// pool): where <see cref="Send"/> waits for room, this awaits the pump's next flush, under the same silence rule.
    /// <paramref name="data"/> must stay valid until the returned task completes.
    /// </summary>
    public async ValueTask SendAsync(ReadOnlyMemory<byte> data)
    {
        var abortedAt = 0L;
        var seen = -1L;
        var since = 0L;
        while (true)
        {
            var state = Volatile.Read(ref _state);
            if (state == Failed)
            {
                throw new ClientDisconnectedException(_failure);
            }

            if (state == Idle)
            {
                WriteAndFlush(data.Span, waitForAbort: false);
                return;
            }

            var gate = _gate!;
            Turn turn;
            Task? room = null;
            gate.Enter();
            try
            {
                turn = TakeTurn(data.Span, mustOwn: data.Length > _bufferSize);
                if (turn == Turn.NoRoom)
                {
                    if (_flushesDone != seen)
                    {
                        // The client took bytes (or this is the first wait): its silence starts again.
                        seen = _flushesDone;
                        since = NowMs();
                    }

                    room = (_room ??= gate.NewSignal()).Task;
                }
            }
            finally
            {
                gate.Exit();
            }

            switch (turn)
            {
                case Turn.Queued:
                    return;
                case Turn.Owned:
                    continue;
                case Turn.Gone:
                    throw new ClientDisconnectedException(_failure);
            }

            var left = abortedAt != 0
                ? (long)AbortGrace.TotalMilliseconds - (NowMs() - abortedAt)
                : _silenceLimit == Timeout.InfiniteTimeSpan ? -1 : (long)_silenceLimit.TotalMilliseconds - (NowMs() - since);
            if (left == -1)
            {
                await room!.ConfigureAwait(false);
                continue;
            }

            if (left > 0)
            {
                try
                {
                    await room!.WaitAsync(TimeSpan.FromMilliseconds(left), _time).ConfigureAwait(false);
                    continue;
                }
                catch (TimeoutException)
                {
                    // Looked at again below, as the blocking sender does once its wait ran out.
                }
            }

            if (abortedAt != 0)
            {
                throw new ClientDisconnectedException();
            }

            abortedAt = NowMs();
            _pipe.DropSilentClient(_silenceLimit);
        }
    }

    /// <summary>Under the gate, without waiting: queues or spools the chunk, or says who has the pipe; <see cref="Turn.NoRoom"/> when neither the buffer nor the spool has room yet.</summary>
    private Turn TakeTurn(ReadOnlySpan<byte> data, bool mustOwn)
    {
        if (_state == Failed)
        {
            return Turn.Gone;
        }

        if (_state == Idle)
        {
            return Turn.Owned;
        }

        if (!mustOwn && data.Length <= _bufferSize - _queuedBytes)
        {
            Append(data);
            return Turn.Queued;
        }

        if (!data.IsEmpty && _spoolBudget is not null && Spool(data))
        {
            return Turn.Queued;
        }

        return Turn.NoRoom;
    }

    /// <summary>Blocks the worker until it owns the pipe again, every queued byte flushed (before a sendfile).</summary>
    public void WaitUntilIdle()
    {
        var state = Volatile.Read(ref _state);
        if (state == Failed)
        {
            throw Gone();
        }

        if (state != Idle)
        {
            Enqueue([], mustOwn: true);
        }
    }

    /// <summary>On the worker, once the client is known to be gone: the exception for the app, the abort token already canceled.</summary>
    private ClientDisconnectedException Gone()
    {
        _pipe.WaitUntilAborted();
        return new ClientDisconnectedException(_failure);
    }

    /// <summary>
    /// Completes when the pump has let go of the pipe: every byte handed over is flushed, or the client is
    /// gone. The request must not end before, since the pump still writes to its response.
    /// </summary>
    public Task WhenIdle()
    {
        var gate = _gate;
        if (gate is null)
        {
            return Task.CompletedTask;
        }

        gate.Enter();
        try
        {
            return _state != Flushing
                ? Task.CompletedTask
                : (_idle ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        }
        finally
        {
            gate.Exit();
        }
    }

    /// <summary>Writes and flushes on the worker, which owns the pipe; hands it to the pump if the flush stays pending.</summary>
    private void WriteAndFlush(ReadOnlySpan<byte> data, bool waitForAbort = true)
    {
        ValueTask<FlushResult> flush;
        try
        {
            _pipe.Write(data);
            flush = _pipe.FlushAsync();
        }
        catch (Exception ex)
        {
            throw FailOnWorker(new ClientDisconnectedException(ex), waitForAbort);
        }

        if (!flush.IsCompleted)
        {
            StartPump(flush);
            return;
        }

        if (Observe(flush) is { } gone)
        {
            throw FailOnWorker(gone, waitForAbort);
        }
    }

    /// <summary>The client is gone while the worker owns the pipe: nothing is queued, so no pump is involved.</summary>
    private ClientDisconnectedException FailOnWorker(ClientDisconnectedException gone, bool waitForAbort)
    {
        _failure = gone;
        Volatile.Write(ref _state, Failed);
        _pipe.Abort();
        if (waitForAbort)
        {
            // For an app on this thread that catches the departure (an asynchronous sender runs no app code).
            _pipe.WaitUntilAborted();
        }

        return gone;
    }

    private void StartPump(ValueTask<FlushResult> flush)
    {
        var gate = _gate ??= new HandOffGate();
        _queue ??= [];
        _batch ??= [];
        gate.Enter();
        try
        {
            _state = Flushing;
        }
        finally
        {
            gate.Exit();
        }

        // From here the pump owns the pipe; the worker touches only the queue, under the gate.
        _flush = flush;
        flush.GetAwaiter().UnsafeOnCompleted(_onFlushed ??= OnFlushed);
    }

    /// <summary>
    /// Appends a copy behind the pending flush, waiting for room first. Returns false when the pump has handed
    /// the pipe back (the worker then writes itself); throws once the client is gone.
    /// </summary>
    /// <param name="data">The chunk; empty with <paramref name="mustOwn"/> to wait for the pipe alone.</param>
    /// <param name="mustOwn">True to wait for the pipe itself rather than queue: a chunk larger than the buffer, or a sendfile.</param>
    private bool Enqueue(ReadOnlySpan<byte> data, bool mustOwn)
    {
        var gate = _gate!;
        var abortedAt = 0L;
        while (true)
        {
            Turn turn;
            gate.Enter();
            try
            {
                turn = WaitForTurn(gate, data, mustOwn, abortedAt);
            }
            finally
            {
                gate.Exit();
            }

            switch (turn)
            {
                case Turn.Queued:
                    return true;
                case Turn.Owned:
                    return false;
                case Turn.Gone:
                    throw Gone();
                default:
                    if (abortedAt != 0)
                    {
                        // The abort did not end the pending flush in time: the pump will still see it, and the
                        // request waits for that in WhenIdle; this worker does not.
                        throw new ClientDisconnectedException();
                    }

                    // Dropped outside the gate: Kestrel may complete the pending flush inline, and the pump takes the gate.
                    abortedAt = NowMs();
                    _pipe.DropSilentClient(_silenceLimit);
                    break;
            }
        }
    }

    /// <summary>Under the gate: queues the chunk, or waits until the pump takes a batch, hands the pipe back, or fails.</summary>
    /// <param name="gate">The gate, held.</param>
    /// <param name="data">The chunk to queue.</param>
    /// <param name="mustOwn">True to wait for the pipe itself.</param>
    /// <param name="abortedAt">When this worker dropped the client as silent (0 if it did not): from then on it waits only <see cref="AbortGrace"/>.</param>
    private Turn WaitForTurn(HandOffGate gate, ReadOnlySpan<byte> data, bool mustOwn, long abortedAt)
    {
        var seen = _flushesDone;
        var since = NowMs();
        while (true)
        {
            var turn = TakeTurn(data, mustOwn);
            if (turn != Turn.NoRoom)
            {
                return turn;
            }

            if (_flushesDone != seen)
            {
                // The client took bytes: its silence starts again.
                seen = _flushesDone;
                since = NowMs();
            }

            // This worker waits for the client: whatever the app's thread holds that others need goes first.
            GatewayBlocking.BeforeWait();
            if (_silenceLimit == Timeout.InfiniteTimeSpan && abortedAt == 0)
            {
                gate.Wait(Timeout.Infinite);
                continue;
            }

            var left = abortedAt != 0
                ? (long)AbortGrace.TotalMilliseconds - (NowMs() - abortedAt)
                : (long)_silenceLimit.TotalMilliseconds - (NowMs() - since);
            if (left <= 0)
            {
                return Turn.Silent;
            }

            gate.Wait((int)Math.Min(left, int.MaxValue));
        }
    }

    private long NowMs() => (long)(_time.GetTimestamp() * 1000.0 / _time.TimestampFrequency);

    private void Append(ReadOnlySpan<byte> data)
    {
        // Small chunks share a segment, so a flood of tiny writes costs neither a rental nor a flush each.
        var queue = _queue!;
        _queuedBytes += data.Length;
        if (queue.Count > 0)
        {
            var last = queue[^1];
            if (!last.IsSpooled && last.Buffer.Length - last.Count >= data.Length)
            {
                data.CopyTo(last.Buffer.AsSpan(last.Count));
                queue[^1] = last with { Count = last.Count + data.Length };
                return;
            }
        }

        var segment = ArrayPool<byte>.Shared.Rent(Math.Max(SegmentSize, data.Length));
        data.CopyTo(segment);
        queue.Add(new Segment(segment, data.Length, -1));
    }

    /// <summary>
    /// Under the gate: writes the chunk to the spool file and queues where it stands; false when the spool has no
    /// room. The write happens under the gate, so the pump never sees an entry whose bytes are not in the file.
    /// </summary>
    private bool Spool(ReadOnlySpan<byte> data)
    {
        if (_spool is null)
        {
            _spool = new SpoolFile(_spoolBudget!, _spoolLimit);
            _pipe.DisposeWithRequest(_spool);
        }

        var at = _spool.TryAppend(data);
        if (at < 0)
        {
            if (_spool.Failure is { } failure)
            {
                _pipe.SpoolFailed(failure);
            }

            return false;
        }

        _spooledBytes += data.Length;
        var queue = _queue!;
        if (queue.Count > 0 && queue[^1] is { IsSpooled: true } last && last.SpoolAt + last.Count == at && (long)last.Count + data.Length <= int.MaxValue)
        {
            queue[^1] = last with { Count = last.Count + data.Length };
        }
        else
        {
            queue.Add(new Segment([], data.Length, at));
        }

        return true;
    }

    /// <summary>The pump: runs where a flush completes, and for as long as flushes complete at once.</summary>
    private void OnFlushed()
    {
        var flush = _flush;
        _flush = default;
        var gate = _gate!;
        while (true)
        {
            var gone = Observe(flush);
            if (gone is not null)
            {
                // Before the state says so: once it leaves Flushing the request may end, and the pump must not touch it.
                _pipe.Abort();
            }

            var batch = _batch!;
            TaskCompletionSource? idle = null;
            TaskCompletionSource? room;
            var ended = false;
            gate.Enter();
            try
            {
                _flushesDone++;
                if (gone is not null)
                {
                    _failure = gone;
                    _state = Failed;
                    Release(_queue!);
                    Release(batch, _batchNext);
                    _batchNext = 0;
                    _queuedBytes = 0;
                    _spooledBytes = 0;
                    idle = _idle;
                    ended = true;
                }
                else if (_batchNext < batch.Count)
                {
                    // The batch taken last is not all written yet: it goes first.
                }
                else if (_queuedBytes == 0 && _spooledBytes == 0)
                {
                    // The hand-back: decided and done in this one step under the gate.
                    _state = Idle;
                    idle = _idle;
                    ended = true;
                }
                else
                {
                    batch.Clear();
                    (_queue, _batch) = (batch, _queue!);
                    batch = _batch;
                    _batchNext = 0;
                    _queuedBytes = 0;
                    _spooledBytes = 0;
                }

                gate.PulseAll();
                room = _room;
                _room = null;
            }
            finally
            {
                gate.Exit();
            }

            // Outside the gate: an asynchronous sender waiting for room goes on elsewhere (its continuation runs asynchronously).
            room?.TrySetResult();
            if (ended)
            {
                idle?.TrySetResult();
                return;
            }

            try
            {
                WriteSlice(batch);
                flush = _pipe.FlushAsync();
            }
            catch (Exception ex)
            {
                flush = ValueTask.FromException<FlushResult>(ex);
            }

            if (!flush.IsCompleted)
            {
                _flush = flush;
                flush.GetAwaiter().UnsafeOnCompleted(_onFlushed!);
                return;
            }
        }
    }

    /// <summary>
    /// One slice of the batch: whole memory segments up to the slice size (at least one), and spooled bytes read
    /// back from the file up to it (a spooled entry larger than the slice is written over several slices).
    /// </summary>
    private void WriteSlice(List<Segment> batch)
    {
        var written = 0;
        while (_batchNext < batch.Count)
        {
            var segment = batch[_batchNext];
            if (segment.IsSpooled)
            {
                var room = _sliceSize - written;
                if (room <= 0)
                {
                    return;
                }

                var count = Math.Min(room, segment.Count);
                WriteSpooled(segment.SpoolAt, count);
                written += count;
                if (count < segment.Count)
                {
                    batch[_batchNext] = segment with { SpoolAt = segment.SpoolAt + count, Count = segment.Count - count };
                    return;
                }

                batch[_batchNext++] = default;
                continue;
            }

            if (written != 0 && written + segment.Count > _sliceSize)
            {
                return;
            }

            _pipe.Write(segment.Buffer.AsSpan(0, segment.Count));
            ArrayPool<byte>.Shared.Return(segment.Buffer);
            batch[_batchNext++] = default;
            written += segment.Count;
        }
    }

    private void WriteSpooled(long at, int count)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Min(count, DefaultSliceSize));
        try
        {
            while (count > 0)
            {
                var read = _spool!.Read(at, buffer.AsSpan(0, Math.Min(count, buffer.Length)));
                _pipe.Write(buffer.AsSpan(0, read));
                at += read;
                count -= read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Consumes a completed flush: null when the client took it, the reason when the client is gone.</summary>
    private ClientDisconnectedException? Observe(ValueTask<FlushResult> flush)
    {
        try
        {
            return _pipe.IsClientGone(flush.GetAwaiter().GetResult()) ? new ClientDisconnectedException() : null;
        }
        catch (Exception ex)
        {
            // Canceled by the client's departure, or the connection failed under the write.
            return new ClientDisconnectedException(ex);
        }
    }

    /// <summary>Returns the segments from <paramref name="from"/> on to the pool (those before it were returned when written).</summary>
    private static void Release(List<Segment> segments, int from = 0)
    {
        for (var i = from; i < segments.Count; i++)
        {
            if (!segments[i].IsSpooled)
            {
                ArrayPool<byte>.Shared.Return(segments[i].Buffer);
            }
        }

        segments.Clear();
    }

    /// <summary>A queued piece of the body: <see cref="Count"/> bytes of a rented buffer, or of the spool file from <see cref="SpoolAt"/>.</summary>
    private readonly record struct Segment(byte[] Buffer, int Count, long SpoolAt)
    {
        public bool IsSpooled => SpoolAt >= 0;
    }

    private enum Turn
    {
        Queued,
        Owned,
        Gone,
        Silent,
        NoRoom,
    }
}
