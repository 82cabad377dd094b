using Microsoft.Extensions.Logging;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Adapter.Tests;

[Collection(nameof(TimingSensitive))]
public sealed class WorkerTests
{
    [Fact]
    public async Task App_runs_on_a_dedicated_thread_not_the_thread_pool()
    {
        await using var host = await TestHost.StartAsync(Apps.Probe(static (env, start) =>
            $"{Thread.CurrentThread.IsThreadPoolThread}|{Thread.CurrentThread.Name}|{Thread.CurrentThread.IsBackground}"));
        var answer = await host.Client.GetStringAsync("/");
        Assert.StartsWith("False|Gateway worker ", answer);
    }

    [Fact]
    public async Task Blocking_apps_do_not_block_each_other_up_to_the_worker_count()
    {
        using var gate = new CountdownEvent(4);
        await using var host = await TestHost.StartAsync(
            Apps.Probe((env, start) =>
            {
                gate.Signal();
                return gate.Wait(TestHost.Wait) ? "all met" : "alone";
            }),
            static o => o.WorkerThreads = 4);

        var answers = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => host.Client.GetStringAsync("/")));
        Assert.All(answers, static a => Assert.Equal("all met", a));
    }

    [Fact]
    public void Options_have_the_documented_defaults()
    {
        var options = new GatewayOptions();
        Assert.Equal(Math.Max(16, 4 * Environment.ProcessorCount), options.WorkerThreads);
        Assert.Equal(1024, options.QueueLimit);
        Assert.Equal(TimeSpan.FromSeconds(30), options.RequestTimeout);
    }

    [Fact]
    public void AddGateway_binds_the_Gateway_section_and_then_applies_the_callback()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Gateway:WorkerThreads"] = "7",
            ["Gateway:QueueLimit"] = "9",
            ["Gateway:RequestTimeout"] = "00:00:05",
        }).Build());
        services.AddGateway(static o => o.QueueLimit += 1);
        var options = services.BuildServiceProvider().GetRequiredService<IOptions<GatewayOptions>>().Value;
        Assert.Equal(7, options.WorkerThreads);
        Assert.Equal(10, options.QueueLimit);
        Assert.Equal(TimeSpan.FromSeconds(5), options.RequestTimeout);
    }

    [Theory]
    [InlineData(0, 10, 30, "WorkerThreads")]
    [InlineData(4, -1, 30, "QueueLimit")]
    [InlineData(4, 10, 0, "RequestTimeout")]
    public async Task Nonsense_options_fail_at_start_up(int workers, int queue, int timeoutSeconds, string named)
    {
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => TestHost.StartAsync(
            Apps.Text("never"),
            o =>
            {
                o.WorkerThreads = workers;
                o.QueueLimit = queue;
                o.RequestTimeout = TimeSpan.FromSeconds(timeoutSeconds);
            }));
        Assert.Contains(named, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Full_queue_answers_503_with_retry_after_without_calling_the_app()
    {
        using var release = new ManualResetEventSlim();
        var calls = 0;
        var busy = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await TestHost.StartAsync(
            Apps.Probe((env, start) =>
            {
                Interlocked.Increment(ref calls);
                busy.TrySetResult();
                release.Wait(TestHost.Wait);
                return "done";
            }),
            static o =>
            {
                o.WorkerThreads = 1;
                o.QueueLimit = 0;
            });

        var first = host.Client.GetStringAsync("/");
        await busy.Task.WaitAsync(TestHost.Wait);
        using var rejected = await host.Client.GetAsync("/");
        release.Set();
        Assert.Equal(HttpStatusCode.ServiceUnavailable, rejected.StatusCode);
        Assert.True(rejected.Headers.RetryAfter is not null);
        Assert.Equal("done", await first.WaitAsync(TestHost.Wait));
        Assert.Equal(1, Volatile.Read(ref calls));
        await host.Logs.WaitForAsync(static e => e.Is(10));
    }

    [Fact]
    public async Task Silent_app_gets_504_and_its_worker_is_replaced()
    {
        using var release = new ManualResetEventSlim();
        var body = new TrackedBody([Apps.Bytes("late")]);
        await using var host = await TestHost.StartAsync(
            (env, start) =>
            {
                if ((string)env["PATH_INFO"]! == "/hang")
                {
                    release.Wait(TestHost.Wait);
                    start("200 OK", []);
                    return body;
                }

                start("200 OK", []);
                return [Apps.Bytes("quick")];
            },
            static o =>
            {
                o.WorkerThreads = 1;
                o.RequestTimeout = TimeSpan.FromMilliseconds(300);
            });

        using var timedOut = await host.Client.GetAsync("/hang");
        Assert.Equal(HttpStatusCode.GatewayTimeout, timedOut.StatusCode);

        // The only worker is stuck, yet the pool still answers: a replacement took its place.
        Assert.Equal("quick", await host.Client.GetStringAsync("/next"));
        release.Set();
        await body.Disposed.WaitAsync(TestHost.Wait);
        Assert.Equal(1, body.Disposals);
        Assert.Equal(LogLevel.Warning, (await host.Logs.WaitForAsync(static e => e.Is(11))).Level);
        Assert.Equal(LogLevel.Warning, (await host.Logs.WaitForAsync(static e => e.Is(14))).Level);
        Assert.Equal(LogLevel.Debug, (await host.Logs.WaitForAsync(static e => e.Is(13))).Level);
    }

    [Fact]
    public async Task Long_stream_that_keeps_producing_is_not_timed_out()
    {
        await using var host = await TestHost.StartAsync(
            static (env, start) => Body(start),
            static o => o.RequestTimeout = TimeSpan.FromMilliseconds(300));

        var text = await host.Client.GetStringAsync("/");
        Assert.Equal(new string('x', 10), text);

        static IEnumerable<byte[]> Body(StartResponse start)
        {
            start("200 OK", []);
            for (var i = 0; i < 10; i++)
            {
                // Each pause is shorter than the timeout; the whole response is far longer.
                using var pause = new ManualResetEventSlim();
                pause.Wait(TimeSpan.FromMilliseconds(100));
                yield return Apps.Bytes("x");
            }
        }
    }

    private static readonly AsyncLocal<string> Ambient = new();

    [Fact]
    public async Task Request_execution_context_flows_to_the_app()
    {
        await using var host = await TestHost.StartAsync(web =>
        {
            web.Use(static (context, next) =>
            {
                Ambient.Value = context.Request.Path;
                return next(context);
            });
            web.UseGatewayApp(Apps.Probe(static (env, start) => Ambient.Value ?? "none"));
        });

        Assert.Equal("/one", await host.Client.GetStringAsync("/one"));
        Assert.Equal("/two", await host.Client.GetStringAsync("/two"));
    }
}
