namespace Adapter.Tests.Interleaving;

/// <summary>
/// The body writer's hand-over between the worker and the pump, explored one interleaving per seed: the
/// worker sends numbered chunks (some larger than the buffer), the client completes pending flushes when
/// the scheduler lets it, and may leave at any step. Every interleaving must deliver the body whole and in
/// order (or a prefix of it once the client left), with one owner of the pipe at a time, no hang, and no
/// touch of the response after the request ended.
/// </summary>
public sealed class BodyWriterInterleavingTests
{
    private const int Interleavings = 600;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Every_interleaving_delivers_the_body_whole_and_in_order(bool clientMayLeave)
    {
        for (var seed = 1; seed <= Interleavings; seed++)
        {
            Explore(seed, clientMayLeave);
        }
    }

    [Fact]
    public void A_pump_that_hands_back_an_empty_queue_strands_no_chunk()
    {
        // The shape of the bug seen in the field: tiny chunks that all fit the buffer, so the worker keeps
        // queueing while the pump finds its queue empty and hands the pipe back.
        for (var seed = 1; seed <= Interleavings; seed++)
        {
            Explore(seed, clientMayLeave: false, chunkSizes: Enumerable.Repeat(1, 16).ToArray(), bufferSize: 1024);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Batches_of_several_segments_are_flushed_slice_by_slice_in_order(bool clientMayLeave)
    {
        // Chunks up to 9,000 bytes fill several 4 KiB segments per batch; the pump flushes one segment per slice.
        for (var seed = 1; seed <= Interleavings / 3; seed++)
        {
            var random = new Random(seed);
            var sizes = Enumerable.Range(0, 10).Select(_ => random.Next(1, 9000)).ToArray();
            Explore(seed, clientMayLeave, sizes, bufferSize: 20_000);
        }
    }

    [Theory]
    [InlineData(false, 100_000)]
    [InlineData(true, 100_000)]
    [InlineData(false, 300)]
    [InlineData(true, 300)]
    public void Chunks_spooled_to_disk_keep_their_order_beside_queued_ones(bool clientMayLeave, long spoolLimit)
    {
        // A tiny buffer, so most chunks go to the spool file while later small ones still fit memory; with the
        // 300-byte limit the spool fills too and the worker falls back to waiting for the client.
        for (var seed = 1; seed <= Interleavings / 2; seed++)
        {
            Explore(seed, clientMayLeave, bufferSize: 48, spoolLimit: spoolLimit);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_client_that_stops_taking_bytes_is_dropped_after_its_silence_and_the_worker_is_told(bool slowToNoticeTheAbort)
    {
        // A finite silence: the client may stop for good at any step; the worker's timed wait then runs out (the
        // stepped clock moves only when nothing else can run), it drops the client and waits out the abort
        // grace, and must end with the departure reported, never hang, and never lose bytes silently.
        var dropped = 0;
        for (var seed = 1; seed <= Interleavings / 2; seed++)
        {
            dropped += Explore(seed, clientMayLeave: false, silence: TimeSpan.FromSeconds(1), clientMayStall: true, slowToNoticeTheAbort: slowToNoticeTheAbort) ? 1 : 0;
        }

        // The branch under test ran: in most seeds the client stalls while the worker waits for room.
        Assert.True(dropped > Interleavings / 20, $"Only {dropped} interleavings dropped a silent client.");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Waiting_until_idle_returns_with_every_byte_flushed_and_the_pipe_the_workers(bool spool)
    {
        // As before a sendfile: the worker waits for the pipe between chunks, while flushes are pending.
        for (var seed = 1; seed <= Interleavings / 2; seed++)
        {
            Explore(seed, clientMayLeave: true, spoolLimit: spool ? 100_000 : 0, waitUntilIdle: true);
        }
    }

    [Theory]
    [InlineData(false, 0L)]
    [InlineData(true, 0L)]
    [InlineData(true, 4096L)]
    public void An_asynchronous_sender_gets_every_interleaving_whole_and_in_order(bool clientMayLeave, long spoolLimit)
    {
        // The worker-process path: SendAsync awaits room where Send blocks, and the pump wakes it.
        for (var seed = 1; seed <= Interleavings; seed++)
        {
            Explore(seed, clientMayLeave, spoolLimit: spoolLimit, asynchronous: true);
        }
    }

    [Fact]
    public void A_connection_that_fails_under_a_write_or_flush_ends_the_request_with_the_worker_told()
    {
        // Write and FlushAsync throw (a reset socket), on the worker or inside the pump, at any step.
        for (var seed = 1; seed <= Interleavings / 2; seed++)
        {
            Explore(seed, clientMayLeave: true, connectionMayBreak: true);
        }
    }

    /// <returns>True when the worker dropped the client as silent.</returns>
    private static bool Explore(
        int seed,
        bool clientMayLeave,
        int[]? chunkSizes = null,
        int bufferSize = 48,
        long spoolLimit = 0,
        TimeSpan? silence = null,
        bool clientMayStall = false,
        bool slowToNoticeTheAbort = false,
        bool waitUntilIdle = false,
        bool connectionMayBreak = false,
        bool asynchronous = false)
    {
        var scheduler = new StepScheduler(seed);
        var pipe = new SteppedPipe(scheduler, pendingChance: 0.6);
        var budget = new SpoolBudget(long.MaxValue, null);
        var clock = new SteppedClock();
        // Slices of a few segments, so the pump also stops mid-batch and resumes on the next flush's completion.
        var writer = new GatewayBodyWriter(pipe, bufferSize, silence ?? Timeout.InfiniteTimeSpan, new SteppedGate(clock), sliceSize: 24, budget, spoolLimit, clock);
        var sizes = chunkSizes ?? Enumerable.Range(0, 12).Select(_ => scheduler.Random.Next(1, 80)).ToArray();
        var chunks = sizes.Select(static (size, i) => Enumerable.Range(0, size).Select(j => (byte)(i * 16 + j % 16)).ToArray()).ToArray();
        var expected = chunks.SelectMany(static c => c).ToArray();
        var workerSawDeparture = false;
        var workerDone = false;
        var sentAll = false;
        var handedOver = 0L;
        var idleViolations = new List<string>();
        var stalled = false;

        scheduler.Run(
            ("worker", () =>
            {
                try
                {
                    foreach (var chunk in chunks)
                    {
                        // The app reuses its array once the writer returns: the writer must have sent or copied it.
                        var reused = (byte[])chunk.Clone();
                        if (asynchronous)
                        {
                            // The chunk must stay valid until the send completes, then it is reused.
                            var sending = writer.SendAsync(reused).AsTask();
                            StepScheduler.BlockUntil("worker.send-async", () => sending.IsCompleted);
                            sending.GetAwaiter().GetResult();
                        }
                        else
                        {
                            writer.Send(reused);
                        }

                        Array.Fill(reused, (byte)0xEE);
                        if (waitUntilIdle && scheduler.Random.Next(3) == 0)
                        {
                            handedOver += reused.Length;
                            writer.WaitUntilIdle();

                            // The worker owns the pipe again: nothing pending, everything handed over delivered.
                            if (pipe.HasPendingFlush || (!pipe.IsAborted && pipe.Received.Length != handedOver))
                            {
                                idleViolations.Add($"WaitUntilIdle returned with a flush pending ({pipe.HasPendingFlush}) or {pipe.Received.Length} of {handedOver} bytes delivered");
                            }

                            continue;
                        }

                        handedOver += reused.Length;
                    }

                    sentAll = true;
                }
                catch (ClientDisconnectedException)
                {
                    workerSawDeparture = true;
                }

                workerDone = true;

                // As the middleware does: the request ends once the pump has let go of the pipe.
                var idle = writer.WhenIdle();
                StepScheduler.BlockUntil("request.wait-idle", () => idle.IsCompleted);
                pipe.RequestEnded = true;
            }),
            ("client", () =>
            {
                while (true)
                {
                    StepScheduler.BlockUntil("client.wait", () => pipe.HasPendingFlush || pipe.RequestEnded);
                    if (pipe.RequestEnded && !pipe.HasPendingFlush)
                    {
                        return;
                    }

                    if (clientMayStall && !stalled && scheduler.Random.Next(6) == 0)
                    {
                        // The client stops reading for good: only the connection's abort ends its pending flush, at
                        // once as Kestrel does, or (slow to notice) only after the worker gave up waiting. Once the
                        // worker has handed everything over, no worker waits on the client: Kestrel's
                        // MinResponseDataRate drops it, modelled here as an abort when nothing else is left.
                        stalled = true;
                        StepScheduler.BlockUntil("client.stalled", () => workerDone || (pipe.IsAborted && !slowToNoticeTheAbort));
                        if (!pipe.IsAborted)
                        {
                            pipe.Abort();
                        }
                    }

                    pipe.CompletePending();
                }
            }),
            ("departure", () =>
            {
                // The client leaving is its own actor, so it can land in the middle of a pump's write or flush.
                if (!clientMayLeave)
                {
                    return;
                }

                while (!pipe.RequestEnded && scheduler.Random.Next(10) != 0)
                {
                    StepScheduler.Point("departure.not-yet");
                }

                if (!pipe.RequestEnded)
                {
                    if (connectionMayBreak && scheduler.Random.Next(2) == 0)
                    {
                        pipe.Break();
                    }
                    else
                    {
                        pipe.Abort();
                    }
                }
            }));

        var received = pipe.Received.ToArray();
        var context = $"seed {seed}: sent {expected.Length} bytes in [{string.Join(",", sizes)}], received {received.Length}; steps: {scheduler.Trace}";
        Assert.True(pipe.Violations.Count == 0, string.Join("; ", pipe.Violations) + " — " + context);
        Assert.True(idleViolations.Count == 0, string.Join("; ", idleViolations) + " — " + context);
        Assert.True(received.AsSpan().SequenceEqual(expected.AsSpan(0, Math.Min(received.Length, expected.Length))) && received.Length <= expected.Length,
            "The client received bytes out of order, twice, or not sent — " + context);
        if ((!clientMayLeave && !stalled) || (!workerSawDeparture && !writer.HasFailed && !pipe.IsAborted))
        {
            Assert.True(received.Length == expected.Length, "The body was cut short with no departure reported — " + context);
        }

        if (received.Length < expected.Length)
        {
            Assert.True(workerSawDeparture || writer.HasFailed, "Bytes were lost and nobody was told — " + context);
        }

        Assert.True(writer.SpoolLength <= spoolLimit, $"Spooled {writer.SpoolLength} bytes past the limit of {spoolLimit} — " + context);
        foreach (var disposable in pipe.Disposables)
        {
            disposable.Dispose();
        }

        Assert.True(budget.Used == 0 && budget.Files == 0, $"The spool still holds {budget.Used} bytes in {budget.Files} files after the request — " + context);
        if (stalled && received.Length < expected.Length)
        {
            Assert.True(pipe.IsAborted && (workerSawDeparture || sentAll), "A stalled client was not dropped, or the worker was not told — " + context);
            Assert.True(pipe.SilentDrops == (workerSawDeparture ? 1 : 0), $"The writer dropped the client {pipe.SilentDrops} times — " + context);
        }

        return stalled && workerSawDeparture;
    }
}
