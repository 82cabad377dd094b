using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;

namespace Adapter.Tests;

[Collection(nameof(TimingSensitive))]
public sealed class SoakTests
{
    private const int Workers = 8;

    [Fact]
    public async Task Mixed_load_leaves_every_iterable_closed_once_and_the_pool_and_metrics_balanced()
    {
        var bodies = new ConcurrentBag<TrackedBody>();
        await using var host = await TestHost.StartAsync(
            (env, start) =>
            {
                var body = new TrackedBody((string)env["PATH_INFO"]! switch
                {
                    "/fail" => Failing(start),
                    "/abort" => Endless(start),
                    "/slow" => Slow(start),
                    _ => Ok(start),
                });
                bodies.Add(body);
                return body;
            },
            static o =>
            {
                o.WorkerThreads = Workers;
                o.RequestTimeout = TimeSpan.FromMilliseconds(400);
            });
        using var metrics = new MetricsCollector(host.Services.GetRequiredService<IMeterFactory>());
        var pool = host.Services.GetRequiredService<GatewayWorkerPool>();

        const int total = 3000;
        var outcomes = new ConcurrentDictionary<string, int>();
        using var limit = new SemaphoreSlim(16);
        var random = new Random(3333);
        var paths = Enumerable.Range(0, total).Select(_ => random.Next(100) switch
        {
            < 5 => "/fail",
            < 9 => "/abort",
            < 10 => "/slow",
            _ => "/ok",
        }).ToArray();

        await Task.WhenAll(paths.Select(async path =>
        {
            await limit.WaitAsync();
            try
            {
                outcomes.AddOrUpdate($"{path} {await RunAsync(host.Client, path)}", 1, static (_, n) => n + 1);
            }
            finally
            {
                limit.Release();
            }
        })).WaitAsync(TimeSpan.FromSeconds(60));

        var summary = string.Join(", ", outcomes.OrderBy(static o => o.Key).Select(static o => $"{o.Key}: {o.Value}"));
        // While hung apps hold the workers, queued requests may time out too: that is the bounded outcome.
        Assert.All(outcomes.Keys, key => Assert.True(
            key is "/ok OK" or "/fail InternalServerError" or "/abort aborted" or "/slow GatewayTimeout"
                || (key.EndsWith(" GatewayTimeout", StringComparison.Ordinal) && key != "/slow OK"),
            $"Unexpected outcome {key} ({summary})"));

        // Bounded: requests that only queued behind hung apps may time out, but not a large share of them.
        var collateral = outcomes.Where(static o => o.Key.EndsWith(" GatewayTimeout", StringComparison.Ordinal) && o.Key != "/slow GatewayTimeout").Sum(static o => o.Value);
        Console.WriteLine($"soak: {summary}");
        Assert.True(collateral <= total / 10, $"{collateral} requests that never hung timed out ({summary})");

        // Stuck apps return later: wait for them, bounded, then check that everything balanced.
        await metrics.WaitUntilAsync(m =>
            bodies.All(static b => b.Disposals > 0) && pool.BusyCount == 0 && pool.ThreadCount == Workers
            && m.Sum("gateway.active_requests") == 0 && m.Sum("gateway.queued_requests") == 0
            || Report($"undisposed {bodies.Count(static b => b.Disposals == 0)}, busy {pool.BusyCount}, threads {pool.ThreadCount}, idle {pool.IdleCount}"));
        Assert.All(bodies, static b => Assert.Equal(1, b.Disposals));
        Assert.Equal(Workers, pool.IdleCount);
        Assert.Equal(total, metrics.Sum("gateway.requests"));
        Assert.Equal(0, metrics.Sum("gateway.requests|gateway.result=rejected"));
    }

    private static string? _lastReport;

    private static bool Report(string state)
    {
        if (state != _lastReport)
        {
            _lastReport = state;
            Console.WriteLine(state);
        }

        return false;
    }

    private static async Task<string> RunAsync(HttpClient client, string path)
    {
        if (path != "/abort")
        {
            using var response = await client.GetAsync(path);
            await response.Content.ReadAsByteArrayAsync();
            return response.StatusCode.ToString();
        }

        using (var response = await client.GetAsync(path, HttpCompletionOption.ResponseHeadersRead))
        {
            if (response.StatusCode != HttpStatusCode.OK)
            {
                return response.StatusCode.ToString();
            }

            var stream = await response.Content.ReadAsStreamAsync();
            await stream.ReadExactlyAsync(new byte[1024]).AsTask().WaitAsync(TestHost.Wait);
        }

        return "aborted";
    }

    private static IEnumerable<byte[]> Ok(StartResponse start)
    {
        start("200 OK", []);
        yield return Apps.Bytes("hello ");
        yield return Apps.Bytes("world");
    }

    private static IEnumerable<byte[]> Failing(StartResponse start)
    {
        start("200 OK", []);
        yield return [];
        throw new InvalidOperationException("soak failure");
    }

    private static IEnumerable<byte[]> Endless(StartResponse start)
    {
        start("200 OK", []);
        var chunk = new byte[16 * 1024];
        for (var i = 0; i < 100_000; i++)
        {
            yield return chunk;
        }
    }

    private static IEnumerable<byte[]> Slow(StartResponse start)
    {
        using var pause = new ManualResetEventSlim();
        pause.Wait(TimeSpan.FromMilliseconds(2000));
        start("200 OK", []);
        yield return Apps.Bytes("too late");
    }
}
