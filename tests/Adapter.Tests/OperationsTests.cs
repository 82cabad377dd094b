using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Adapter.Tests;

[Collection(nameof(TimingSensitive))]
public sealed class OperationsTests
{
    [Fact]
    public async Task Metrics_count_every_result_and_balance_their_gauges()
    {
        using var release = new ManualResetEventSlim();
        using var busy = new CountdownEvent(2);
        var streaming = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await TestHost.StartAsync(
            (env, start) => (string)env["PATH_INFO"]! switch
            {
                "/fail" => throw new InvalidOperationException("failed"),
                "/hold" => Hold(start),
                "/hang" => Hang(start),
                "/endless" => Endless(start),
                _ => Ok(start),
            },
            static o =>
            {
                o.WorkerThreads = 2;
                o.QueueLimit = 0;

                // A margin for a loaded machine: the held apps wait through a whole request of the test's own.
                o.RequestTimeout = TimeSpan.FromSeconds(1);
            });
        using var metrics = new MetricsCollector(host.Services.GetRequiredService<IMeterFactory>());

        Assert.Equal(HttpStatusCode.OK, (await host.Client.GetAsync("/ok")).StatusCode);
        Assert.Equal(HttpStatusCode.InternalServerError, (await host.Client.GetAsync("/fail")).StatusCode);
        Assert.Equal(HttpStatusCode.GatewayTimeout, (await host.Client.GetAsync("/hang")).StatusCode);
        using (var raw = host.Connect())
        {
            await raw.SendAsync("GET /endless HTTP/1.1\r\nHost: h\r\n\r\n");
            await streaming.Task.WaitAsync(TestHost.Wait);
        }

        await metrics.WaitUntilAsync(static m => m.Sum("gateway.requests|gateway.result=canceled") == 1);
        var held = host.Client.GetAsync("/hold");
        var second = host.Client.GetAsync("/hold");
        Assert.True(await Task.Run(() => busy.Wait(TestHost.Wait)));
        using var rejected = await host.Client.GetAsync("/ok");
        release.Set();
        Assert.Equal(HttpStatusCode.ServiceUnavailable, rejected.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await held.WaitAsync(TestHost.Wait)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await second.WaitAsync(TestHost.Wait)).StatusCode);

        await metrics.WaitUntilAsync(static m => m.Sum("gateway.requests") == 7 && m.Sum("gateway.active_requests") == 0);
        Assert.Equal(3, metrics.Sum("gateway.requests|gateway.result=completed"));
        Assert.Equal(1, metrics.Sum("gateway.requests|gateway.result=failed"));
        Assert.Equal(1, metrics.Sum("gateway.requests|gateway.result=timed_out"));
        Assert.Equal(1, metrics.Sum("gateway.requests|gateway.result=canceled"));
        Assert.Equal(1, metrics.Sum("gateway.requests|gateway.result=rejected"));
        Assert.Equal(0, metrics.Sum("gateway.queued_requests"));
        Assert.Equal(7, metrics.Count("gateway.request.duration"));
        Assert.Equal(6, metrics.Count("gateway.request.time_in_queue"));
        var workers = metrics.Observe("gateway.workers");
        Assert.Equal(0, workers["gateway.worker.state=busy"]);
        Assert.True(workers["gateway.worker.state=idle"] >= 1);

        IEnumerable<byte[]> Ok(StartResponse start)
        {
            start("200 OK", []);
            yield return Apps.Bytes("ok");
        }

        IEnumerable<byte[]> Hold(StartResponse start)
        {
            busy.Signal();
            start("200 OK", []);

            // Empty chunks hand over to the adapter without sending anything: however long a loaded machine takes
            // to send the test's own request, a held app is never silent past the 1 s timeout (it was, once).
            var deadline = DateTime.UtcNow + TestHost.Wait;
            while (!release.Wait(100) && DateTime.UtcNow < deadline)
            {
                yield return [];
            }

            yield return Apps.Bytes("held");
        }

        IEnumerable<byte[]> Hang(StartResponse start)
        {
            using var never = new ManualResetEventSlim();
            never.Wait(TimeSpan.FromSeconds(3));
            start("200 OK", []);
            yield break;
        }

        IEnumerable<byte[]> Endless(StartResponse start)
        {
            start("200 OK", []);
            var chunk = new byte[8192];
            for (var i = 0; i < 1_000_000; i++)
            {
                streaming.TrySetResult();
                yield return chunk;
            }
        }
    }

    [Fact]
    public async Task App_runs_inside_a_gateway_activity_under_the_request_and_its_logs_carry_the_trace()
    {
        const string traceId = "0af7651916cd43dd8448eb211c80319c";
        using var listener = new ActivityListener
        {
            ShouldListenTo = static _ => true,
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);
        ILogger? appLogger = null;
        await using var host = await TestHost.StartAsync(Apps.Probe((env, start) =>
        {
            appLogger!.LogInformation("inside the app");
            var activity = Activity.Current!;
            return $"{activity.OperationName}|{activity.Source.Name}|{activity.TraceId}|{activity.Parent?.OperationName}|{activity.GetTagItem("gateway.time_in_queue") is double}";
        }));
        appLogger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("SampleApp");

        using var request = new HttpRequestMessage(HttpMethod.Get, "/traced");
        request.Headers.Add("traceparent", $"00-{traceId}-b7ad6b7169203331-01");
        using var response = await host.Client.SendAsync(request);
        Assert.Equal($"gateway.app|Adapter|{traceId}|Microsoft.AspNetCore.Hosting.HttpRequestIn|True", await response.Content.ReadAsStringAsync());
        var line = await host.Logs.WaitForAsync(static e => e.Message == "inside the app");
        Assert.Equal(traceId, line.Scope["TraceId"]?.ToString());
        Assert.Equal("/traced", line.Scope["RequestPath"]?.ToString());
    }

    [Fact]
    public async Task Shutdown_serves_a_request_on_an_open_keep_alive_connection_with_connection_close_lets_in_flight_ones_finish_and_joins_the_workers()
    {
        using var release = new ManualResetEventSlim();
        using var stopGate = new ManualResetEventSlim();
        var running = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var host = await TestHost.StartAsync(
            web =>
            {
                // Registered before the pool's own callback, so it runs after it (callbacks run last-in first-out)
                // and holds the host between "stopping" and Kestrel's own stop.
                web.Lifetime.ApplicationStopping.Register(() => stopGate.Wait(TestHost.Wait));
                web.UseGatewayApp((env, start) =>
            {
                if ((string)env["PATH_INFO"]! == "/slow")
                {
                    running.TrySetResult();
                    release.Wait(TestHost.Wait);
                }

                start("200 OK", []);
                return [Apps.Bytes("finished")];
            });
            },
            static services => services.AddGateway());

        var pool = host.Services.GetRequiredService<GatewayWorkerPool>();
        using var client = new HttpClient { BaseAddress = host.Address, Timeout = TestHost.Wait };

        // A keep-alive connection opened before the stop, idle between two requests.
        using var connection = host.Connect();
        await connection.SendAsync("GET /first HTTP/1.1\r\nHost: h\r\n\r\n");
        Assert.DoesNotContain("Connection: close", (await connection.ReadResponseAsync()).Head, StringComparison.OrdinalIgnoreCase);

        var slow = client.GetStringAsync("/slow");
        await running.Task.WaitAsync(TestHost.Wait);
        var stopping = Task.Run(async () => await host.DisposeAsync());

        // The host is stopping (the gate holds Kestrel open): a request on the open connection is served, not refused,
        // and the connection is closed after its response, so the client's next request goes elsewhere.
        await WaitForAsync(() => pool.IsStopping);
        await connection.SendAsync("GET /new HTTP/1.1\r\nHost: h\r\n\r\n");
        var (served, reset) = await connection.ReadToEndAsync();
        Assert.StartsWith("HTTP/1.1 200", served);
        Assert.Contains("Connection: close", served, StringComparison.OrdinalIgnoreCase);
        Assert.EndsWith("finished", served, StringComparison.Ordinal);
        Assert.False(reset);
        Assert.DoesNotContain(host.Logs.Adapter, static e => e.Is(15));

        release.Set();
        stopGate.Set();
        Assert.Equal("finished", await slow.WaitAsync(TestHost.Wait));
        await stopping.WaitAsync(TestHost.Wait);
        Assert.Equal(0, pool.ThreadCount);
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TestHost.Wait;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "The condition never held.");
            await Task.Delay(10);
        }
    }
}
