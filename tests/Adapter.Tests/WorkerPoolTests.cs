using Microsoft.Extensions.DependencyInjection;

namespace Adapter.Tests;

[Collection(nameof(TimingSensitive))]
public sealed class WorkerPoolTests
{
    [Fact]
    public async Task Stopping_the_host_joins_every_worker_thread()
    {
        var host = await TestHost.StartAsync(Apps.Probe(static (env, start) =>
        {
            using var pause = new ManualResetEventSlim();
            pause.Wait(TimeSpan.FromMilliseconds(50));
            return "ok";
        }), static o => o.WorkerThreads = 16);
        var disposed = false;
        try
        {
            var pool = host.Services.GetRequiredService<GatewayWorkerPool>();
            using var client = new HttpClient { BaseAddress = host.Address, Timeout = TestHost.Wait };
            await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => client.GetStringAsync("/")));
            Assert.Equal(16, pool.ThreadCount);

            var stopwatch = System.Diagnostics.Stopwatch.StartNew();
            disposed = true;
            await host.DisposeAsync();
            Assert.Equal(0, pool.ThreadCount);
            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(5), $"Stopping took {stopwatch.Elapsed}.");
        }
        finally
        {
            if (!disposed)
            {
                await host.DisposeAsync();
            }
        }
    }
}

[Collection(nameof(TimingSensitive))]
public sealed class AbandonedWorkerTests
{
    [Fact]
    public async Task Stuck_workers_are_replaced_only_up_to_the_pool_size_and_retire_when_their_apps_return()
    {
        using var release = new ManualResetEventSlim();
        await using var host = await TestHost.StartAsync(
            (env, start) =>
            {
                release.Wait(TestHost.Wait);
                start("200 OK", []);
                return [];
            },
            static o =>
            {
                o.WorkerThreads = 1;
                o.RequestTimeout = TimeSpan.FromMilliseconds(200);
            });
        var pool = host.Services.GetRequiredService<GatewayWorkerPool>();

        Assert.Equal(System.Net.HttpStatusCode.GatewayTimeout, (await host.Client.GetAsync("/1")).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.GatewayTimeout, (await host.Client.GetAsync("/2")).StatusCode);

        // One stuck thread was replaced; the second was not (the cap is one pool's worth), and that is logged.
        await host.Logs.WaitForAsync(static e => e.Is(16));
        Assert.Equal(2, pool.ThreadCount);

        release.Set();
        var deadline = DateTime.UtcNow + TestHost.Wait;
        while ((pool.ThreadCount != 1 || pool.IdleCount != 1) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.Equal(1, pool.ThreadCount);
        Assert.Equal(1, pool.IdleCount);
    }
}
