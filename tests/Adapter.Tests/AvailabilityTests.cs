using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Adapter.Tests;

/// <summary>
/// Slow, silent and departing clients against a one-worker host over real Kestrel and raw sockets: none of
/// them may keep the worker from everyone else beyond what the buffers and the request timeout allow.
/// </summary>
[Collection(nameof(TimingSensitive))]
public sealed class AvailabilityTests
{
    private const int Big = 300 * 1024;

    [Fact]
    public async Task Response_that_fits_the_buffer_frees_the_worker_while_the_client_reads_nothing()
    {
        await using var host = await StartOneWorkerAsync(o => o.ResponseBufferSize = 256 * 1024);
        using var silent = await ConnectSmallAsync(host.Port);
        await silent.GetStream().WriteAsync("GET /big HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"u8.ToArray()).AsTask().WaitAsync(TestHost.Wait);

        // The one worker must be free for another client while the first reads nothing at all.
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        Assert.Equal("ok", await host.Client.GetStringAsync("/small", cancel.Token));

        var all = new MemoryStream();
        await silent.GetStream().CopyToAsync(all).WaitAsync(TestHost.Wait);
        var text = all.ToArray();
        var bodyAt = text.AsSpan().IndexOf("\r\n\r\n"u8) + 4;
        Assert.Equal(Big, text.Length - bodyAt);
        Assert.True(text.AsSpan(bodyAt).IndexOfAnyExcept((byte)'b') < 0);
    }

    [Fact]
    public async Task Client_that_takes_no_bytes_is_dropped_after_the_client_timeout_once_spooling_is_off()
    {
        await using var host = await StartOneWorkerAsync(o => (o.ClientTimeout, o.ResponseSpoolLimit) = (TimeSpan.FromSeconds(1), 0));
        using var metrics = new MetricsCollector(host.Services.GetRequiredService<IMeterFactory>());
        using var silent = await ConnectSmallAsync(host.Port);
        var sent = System.Diagnostics.Stopwatch.GetTimestamp();
        await silent.GetStream().WriteAsync("GET /huge HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"u8.ToArray()).AsTask().WaitAsync(TestHost.Wait);

        var dropped = await host.Logs.WaitForAsync(static e => e.Is(17));
        var waited = System.Diagnostics.Stopwatch.GetElapsedTime(sent);
        Assert.Equal(LogLevel.Warning, dropped.Level);

        // Not before the client timeout: the silence is counted from the last byte the client took.
        Assert.True(waited >= TimeSpan.FromSeconds(0.9), $"The client was dropped after {waited.TotalMilliseconds:F0} ms, before its timeout of 1 s.");
        Assert.Equal("ok", await host.Client.GetStringAsync("/small"));
        await metrics.WaitUntilAsync(static m => m.Sum("gateway.requests|gateway.result=canceled") == 1);
        Assert.DoesNotContain(host.Logs.Adapter, static e => e.Level >= LogLevel.Error);
    }

    [Fact]
    public async Task Slow_uploader_of_a_short_body_holds_no_worker()
    {
        await using var host = await StartOneWorkerAsync();
        using var uploader = host.Connect();
        await uploader.SendAsync("POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\nConnection: close\r\n\r\n0123456789");

        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        Assert.Equal("ok", await host.Client.GetStringAsync("/small", cancel.Token));

        await uploader.SendAsync(new string('x', 90));
        var (text, _) = await uploader.ReadToEndAsync();
        Assert.EndsWith("100", text);
    }

    [Fact]
    public async Task Time_spent_uploading_a_short_body_is_not_counted_as_silence_or_queue_time()
    {
        var busy = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await TestHost.StartAsync(
            (environ, start) =>
            {
                if ((string)environ["PATH_INFO"]! == "/busy")
                {
                    busy.TrySetResult();
                    Thread.Sleep(300); // the app's own work, shorter than the timeout
                }

                var body = new MemoryStream();
                ((Stream)environ["wsgi.input"]!).CopyTo(body);
                start("200 OK", []);
                return [Apps.Bytes(body.Length.ToString(System.Globalization.CultureInfo.InvariantCulture))];
            },
            static o =>
            {
                o.WorkerThreads = 1;
                o.RequestTimeout = TimeSpan.FromMilliseconds(600);
            });
        using var uploader = host.Connect();
        await uploader.SendAsync("POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\nConnection: close\r\n\r\n0123456789");

        // A slow uploader pauses longer than the request timeout; then its request queues behind a busy worker
        // for less than the timeout. Neither wait is the app's silence.
        await Task.Delay(TimeSpan.FromSeconds(1));
        var other = host.Client.GetStringAsync("/busy");
        await busy.Task.WaitAsync(TestHost.Wait);
        await uploader.SendAsync(new string('x', 90));
        var (text, _) = await uploader.ReadToEndAsync();
        Assert.StartsWith("HTTP/1.1 200", text);
        Assert.EndsWith("100", text);
        Assert.Equal("0", await other);
    }

    [Fact]
    public async Task Request_timed_out_in_the_queue_leaves_the_queue_and_its_gauge()
    {
        using var release = new ManualResetEventSlim();
        await using var host = await TestHost.StartAsync(
            (environ, start) =>
            {
                if ((string)environ["PATH_INFO"]! == "/hang")
                {
                    release.Wait(TestHost.Wait);
                }

                start("200 OK", []);
                return [Apps.Bytes("ok")];
            },
            static o =>
            {
                o.WorkerThreads = 1;
                o.QueueLimit = 1;
                o.RequestTimeout = TimeSpan.FromMilliseconds(400);
            });
        try
        {
            using var metrics = new MetricsCollector(host.Services.GetRequiredService<IMeterFactory>());

            // Two hung apps: the first worker is abandoned and replaced, the replacement hangs too, and the cap
            // (one pool's worth of stuck threads) stops further replacements. No worker is left.
            Assert.Equal(HttpStatusCode.GatewayTimeout, (await host.Client.GetAsync("/hang")).StatusCode);
            Assert.Equal(HttpStatusCode.GatewayTimeout, (await host.Client.GetAsync("/hang")).StatusCode);
            var cap = await host.Logs.WaitForAsync(static e => e.Is(16));
            Assert.Equal(LogLevel.Warning, cap.Level);

            // Queued, then answered 504: it must leave the queue, so the next request queues too instead of a 503.
            Assert.Equal(HttpStatusCode.GatewayTimeout, (await host.Client.GetAsync("/small")).StatusCode);
            Assert.Equal(HttpStatusCode.GatewayTimeout, (await host.Client.GetAsync("/small")).StatusCode);
            await metrics.WaitUntilAsync(static m => m.Sum("gateway.queued_requests") == 0);

            // Nor do their entries pile up while no worker passes over them.
            var pool = host.Services.GetRequiredService<GatewayWorkerPool>();
            await metrics.WaitUntilAsync(_ => !pool.Queued().Any());
            Assert.Equal(2, metrics.Observe("gateway.workers").GetValueOrDefault("gateway.worker.state=stuck"));
        }
        finally
        {
            release.Set();
        }
    }

    [Fact]
    public async Task Stopping_joins_stuck_workers_against_one_deadline()
    {
        using var release = new ManualResetEventSlim();
        var started = new CountdownEvent(4);
        var host = await TestHost.StartAsync(
            web => web.UseGatewayApp((environ, start) =>
            {
                started.Signal();
                release.Wait(TimeSpan.FromSeconds(60));
                start("200 OK", []);
                return [];
            }),
            static services => services.AddGateway(static o => o.WorkerThreads = 4).Configure<HostOptions>(static h => h.ShutdownTimeout = TimeSpan.FromSeconds(1)));
        var disposed = false;
        try
        {
            var requests = Enumerable.Range(0, 4).Select(_ => host.Client.GetAsync("/")).ToArray();
            Assert.True(started.Wait(TestHost.Wait), "The four apps never started.");
            var clock = Stopwatch.StartNew();
            disposed = true;
            await host.DisposeAsync();

            // Joined one by one at 5 s each, four stuck workers took over 20 s; one deadline keeps it to a few.
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"Stopping took {clock.Elapsed}.");
            foreach (var request in requests)
            {
                await Assert.ThrowsAnyAsync<Exception>(() => request);
            }
        }
        finally
        {
            release.Set();
            if (!disposed)
            {
                await host.DisposeAsync();
            }
        }
    }

    private static Task<TestHost> StartOneWorkerAsync(Action<GatewayOptions>? options = null) =>
        TestHost.StartAsync(
            web => web.UseGatewayApp(static (environ, start) => Route(environ, start)),
            services => services.AddGateway(o =>
            {
                o.WorkerThreads = 1;
                options?.Invoke(o);
            }),
            static builder => builder.WebHost.UseSockets(static s => s.CreateBoundListenSocket = static endpoint =>
            {
                // Accepted sockets inherit the listener's small send buffer, so the kernel cannot hide the buffering under test.
                var socket = SocketTransportOptions.CreateDefaultBoundListenSocket(endpoint);
                socket.SendBufferSize = 8 * 1024;
                return socket;
            }));

    private static IEnumerable<byte[]> Route(IDictionary<string, object?> environ, StartResponse start)
    {
        var path = (string)environ["PATH_INFO"]!;
        start("200 OK", path == "/big" ? [("Content-Length", Big.ToString(System.Globalization.CultureInfo.InvariantCulture))] : []);
        switch (path)
        {
            case "/big":
                return Chunks(Big, (byte)'b');
            case "/huge":
                return Chunks(64 * 1024 * 1024, (byte)'h');
            case "/echo":
                var body = new MemoryStream();
                ((Stream)environ["wsgi.input"]!).CopyTo(body);
                return [Apps.Bytes(body.Length.ToString(System.Globalization.CultureInfo.InvariantCulture))];
            default:
                return [Apps.Bytes("ok")];
        }
    }

    private static IEnumerable<byte[]> Chunks(int total, byte fill)
    {
        for (var sent = 0; sent < total; sent += 16 * 1024)
        {
            var chunk = new byte[Math.Min(16 * 1024, total - sent)];
            Array.Fill(chunk, fill);
            yield return chunk;
        }
    }

    private static async Task<TcpClient> ConnectSmallAsync(int port)
    {
        var client = new TcpClient { ReceiveBufferSize = 4 * 1024 };
        await client.ConnectAsync(IPAddress.Loopback, port).WaitAsync(TestHost.Wait);
        return client;
    }
}

/// <summary>Tests whose timeouts are short: they never run beside one another or beside the soak tests.</summary>
[CollectionDefinition(nameof(TimingSensitive), DisableParallelization = true)]
public sealed class TimingSensitive;
