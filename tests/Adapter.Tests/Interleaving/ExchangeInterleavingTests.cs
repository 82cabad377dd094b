using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;

namespace Adapter.Tests.Interleaving;

/// <summary>
/// <see cref="GatewayExchange"/>'s sections against the watchdog, one interleaving per seed: the worker runs a
/// real app through <see cref="GatewayExchange.Execute"/> (chunks, and a section held open across a step, as a
/// blocked write or body read holds one), the watchdog tries to time the request out at every step, and the
/// middleware waits for the answer. A timeout must never land while a section is open, no section may open
/// after it, the request must end exactly once, and nothing may hang.
/// </summary>
public sealed class ExchangeInterleavingTests
{
    [Fact]
    public void A_timeout_never_lands_inside_a_section_and_none_opens_after_it()
    {
        using var pool = new GatewayWorkerPool(new GatewayOptions { RequestTimeout = Timeout.InfiniteTimeSpan }, NullLoggerFactory.Instance);
        for (var seed = 1; seed <= 400; seed++)
        {
            Explore(seed, pool);
        }
    }

    private static void Explore(int seed, GatewayWorkerPool pool)
    {
        var scheduler = new StepScheduler(seed);
        var sectionOpen = false;
        var timedOut = false;
        var sectionsAfterTimeout = 0;
        var timeoutsInsideSection = 0;
        GatewayExchange? exchange = null;
        var handler = new GatewayHandler(App, pool);
        exchange = new GatewayExchange(handler, new DefaultHttpContext(), mountSegments: 0);

        scheduler.Run(
            ("worker", () => exchange.Execute()),
            ("watchdog", () =>
            {
                while (!exchange.Completion.IsCompleted)
                {
                    StepScheduler.Point("watchdog.tick");
                    if (scheduler.Random.Next(4) == 0 && exchange.TryTimeOut(TimeSpan.Zero))
                    {
                        timedOut = true;
                        if (sectionOpen)
                        {
                            timeoutsInsideSection++;
                        }

                        exchange.MarkAnswered(GatewayResult.TimedOut);
                        exchange.Release();
                        return;
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

        Assert.True(timeoutsInsideSection == 0, $"seed {seed}: the request timed out while a section was open; steps: {scheduler.Trace}");
        Assert.True(sectionsAfterTimeout == 0, $"seed {seed}: a section opened after the timeout; steps: {scheduler.Trace}");
        Assert.True(exchange.Completion.IsCompleted, $"seed {seed}: the request never ended; steps: {scheduler.Trace}");

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
