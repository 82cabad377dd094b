using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Adapter.Tests.Interleaving;

/// <summary>
/// <see cref="GatewayExchange"/>'s sections against the pool's own <see cref="GatewayWatchdog.Check"/>, one
/// interleaving per seed: the request waits in the queue until a worker takes it (as the pool's workers do,
/// through <see cref="GatewayExchange.TryLeaveQueue"/>), the worker runs a real app through
/// <see cref="GatewayExchange.Execute"/> (chunks, and a section held open across a step, as a blocked write or body
/// read holds one), the watchdog checks the request at every step with a zero timeout (answering it while queued,
/// or abandoning its worker), and the middleware waits for the answer. A timeout must never land while a section
/// is open, no section may open after it, the request must be answered exactly once, and nothing may hang.
/// </summary>
public sealed class ExchangeInterleavingTests
{
    [Fact]
    public void A_timeout_never_lands_inside_a_section_and_none_opens_after_it()
    {
        var outcomes = new Dictionary<string, int>();
        for (var seed = 1; seed <= 400; seed++)
        {
            var outcome = Explore(seed);
            outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
        }

        // Every path of the watchdog ran: answered while queued, abandoned while running, and no timeout at all.
        Assert.True(outcomes.Count == 3, "Outcomes seen: " + string.Join(", ", outcomes.Select(static o => $"{o.Key} {o.Value}")));
    }

    private static string Explore(int seed)
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meters = services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
        using var metrics = new MetricsCollector(meters);
        using var pool = new GatewayWorkerPool(new GatewayOptions { RequestTimeout = Timeout.InfiniteTimeSpan, WorkerThreads = 2 }, NullLoggerFactory.Instance, meterFactory: meters);
        using var watchdog = new GatewayWatchdog(pool, TimeSpan.Zero, start: false);
        var scheduler = new StepScheduler(seed);
        var worker = new GatewayWorker("stepped worker");
        var sectionOpen = false;
        var timedOut = false;
        var ran = false;
        var sectionsAfterTimeout = 0;
        var stuckNotAbandoned = 0;
        var timeoutsInsideSection = 0;
        GatewayExchange? exchange = null;
        var handler = new GatewayHandler(App, pool);
        exchange = new GatewayExchange(handler, new DefaultHttpContext(), mountSegments: 0);
        exchange.MarkQueued();

        scheduler.Run(
            ("worker", () =>
            {
                StepScheduler.Point("worker.dequeue");
                if (!exchange.TryLeaveQueue())
                {
                    // Answered while queued: the pool's worker skips it.
                    return;
                }

                ran = true;
                worker.Begin(exchange);
                exchange.Execute();
                worker.End();
            }),
            ("watchdog", () =>
            {
                while (!exchange.Completion.IsCompleted)
                {
                    StepScheduler.Point("watchdog.tick");
                    if (scheduler.Random.Next(4) != 0)
                    {
                        continue;
                    }

                    var inside = sectionOpen;
                    var running = worker.Runs(exchange);
                    watchdog.Check(exchange, running ? worker : null);
                    if (exchange.HasTimedOut && !timedOut)
                    {
                        timedOut = true;
                        timeoutsInsideSection += inside ? 1 : 0;

                        // A worker inside a timed-out app is given up on at once (this pool has no interrupter).
                        stuckNotAbandoned += running && !worker.IsAbandoned ? 1 : 0;
                    }
                }
            }),
            ("middleware", () =>
            {
                StepScheduler.BlockUntil("middleware.wait", () => exchange.Completion.IsCompleted);
                if (!exchange.HasTimedOut)
                {
                    exchange.CountOutcome();
                }
            }));

        var context = $"seed {seed}; steps: {scheduler.Trace}";
        Assert.True(timeoutsInsideSection == 0, "The request timed out while a section was open; " + context);
        Assert.True(sectionsAfterTimeout == 0, "A section opened after the timeout; " + context);
        Assert.True(exchange.Completion.IsCompleted, "The request never ended; " + context);
        Assert.True(metrics.Sum("gateway.requests") == 1, $"The request was answered {metrics.Sum("gateway.requests")} times; " + context);
        Assert.True(!timedOut || metrics.Sum("gateway.requests|gateway.result=timed_out") == 1, "A timed-out request was counted as another result; " + context);
        Assert.True(stuckNotAbandoned == 0, "The worker running a timed-out request was not abandoned; " + context);

        return !timedOut ? "not timed out" : ran ? "abandoned while running" : "answered while queued";

        IEnumerable<byte[]> App(IDictionary<string, object?> environ, StartResponse start)
        {
            start("200 OK", []);
            return Body();
        }

        IEnumerable<byte[]> Body()
        {
            for (var i = 0; i < 4; i++)
            {
                StepScheduler.Point("app.work");
                exchange!.BeginAdapterWork();
                if (timedOut)
                {
                    sectionsAfterTimeout++;
                }

                sectionOpen = true;
                StepScheduler.Point("app.in-section");
                sectionOpen = false;
                exchange.EndAdapterWork(handOff: true);
                yield return [(byte)i];
            }
        }
    }
}
