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

    private static void Explore(int seed, bool clientMayLeave, int[]? chunkSizes = null, int bufferSize = 48, long spoolLimit = 0)
    {
        var scheduler = new StepScheduler(seed);
        var pipe = new SteppedPipe(scheduler, pendingChance: 0.6);
        var budget = new SpoolBudget(long.MaxValue, null);
        // Slices of a few segments, so the pump also stops mid-batch and resumes on the next flush's completion.
        var writer = new GatewayBodyWriter(pipe, bufferSize, Timeout.InfiniteTimeSpan, new SteppedGate(), sliceSize: 24, budget, spoolLimit);
        var sizes = chunkSizes ?? Enumerable.Range(0, 12).Select(_ => scheduler.Random.Next(1, 80)).ToArray();
        var chunks = sizes.Select(static (size, i) => Enumerable.Range(0, size).Select(j => (byte)(i * 16 + j % 16)).ToArray()).ToArray();
        var expected = chunks.SelectMany(static c => c).ToArray();
        var workerSawDeparture = false;

        scheduler.Run(
            ("worker", () =>
            {
                try
                {
                    foreach (var chunk in chunks)
                    {
                        // The app reuses its array once the writer returns: the writer must have sent or copied it.
                        var reused = (byte[])chunk.Clone();
                        writer.Send(reused);
                        Array.Fill(reused, (byte)0xEE);
                    }
                }
                catch (ClientDisconnectedException)
                {
                    workerSawDeparture = true;
                }

                // As the middleware does: the request ends once the pump has let go of the pipe.
                var idle = writer.WhenIdle();
                StepScheduler.BlockUntil("request.wait-idle", () => idle.IsCompleted);
                pipe.RequestEnded = true;
            }),
            ("client", () =>
            {
                var left = false;
                while (true)
                {
                    StepScheduler.BlockUntil("client.wait", () => pipe.HasPendingFlush || pipe.RequestEnded || (clientMayLeave && !left));
                    if (pipe.RequestEnded && !pipe.HasPendingFlush)
                    {
                        return;
                    }

                    if (clientMayLeave && !left && scheduler.Random.Next(8) == 0)
                    {
                        left = true;
                        pipe.Abort();
                    }
                    else if (pipe.HasPendingFlush)
                    {
                        pipe.CompletePending();
                    }
                    else
                    {
                        StepScheduler.Point("client.idle");
                    }
                }
            }));

        var received = pipe.Received.ToArray();
        var context = $"seed {seed}: sent {expected.Length} bytes in [{string.Join(",", sizes)}], received {received.Length}; steps: {scheduler.Trace}";
        Assert.True(pipe.Violations.Count == 0, string.Join("; ", pipe.Violations) + " — " + context);
        Assert.True(received.AsSpan().SequenceEqual(expected.AsSpan(0, Math.Min(received.Length, expected.Length))) && received.Length <= expected.Length,
            "The client received bytes out of order, twice, or not sent — " + context);
        if (!clientMayLeave || (!workerSawDeparture && !writer.HasFailed && !pipe.IsAborted))
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
    }
}
