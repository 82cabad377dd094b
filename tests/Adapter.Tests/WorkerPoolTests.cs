using Microsoft.Extensions.DependencyInjection;

namespace Adapter.Tests;

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
        var pool = host.Services.GetRequiredService<GatewayWorkerPool>();
        using var client = new HttpClient { BaseAddress = host.Address, Timeout = TestHost.Wait };
        await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => client.GetStringAsync("/")));
        Assert.Equal(16, pool.ThreadCount);

        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        await host.DisposeAsync();
        Assert.Equal(0, pool.ThreadCount);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(5), $"Stopping took {stopwatch.Elapsed}.");
    }
}
