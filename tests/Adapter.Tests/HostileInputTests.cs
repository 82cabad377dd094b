using System.Net;
using Microsoft.Extensions.DependencyInjection;

namespace Adapter.Tests;

public sealed class HostileInputTests
{
    [Fact]
    public async Task Oversized_request_headers_get_431_without_calling_the_app()
    {
        var calls = 0;
        await using var host = await TestHost.StartAsync(Apps.Probe((env, start) => $"{Interlocked.Increment(ref calls)}"));
        using var raw = host.Connect();
        await raw.SendAsync($"GET / HTTP/1.1\r\nHost: h\r\nX-Huge: {new string('a', 40_000)}\r\n\r\n");
        var (text, _) = await raw.ReadToEndAsync();
        Assert.StartsWith("HTTP/1.1 431", text);
        Assert.Equal(0, Volatile.Read(ref calls));
    }

    [Fact]
    public async Task Pipelined_requests_are_answered_in_order()
    {
        await using var host = await TestHost.StartAsync(Apps.Probe(static (env, start) =>
        {
            var body = new StreamReader((Stream)env["wsgi.input"]!).ReadToEnd();
            return $"{env["PATH_INFO"]}:{body}";
        }));
        using var raw = host.Connect();
        await raw.SendAsync("POST /1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
            + "GET /2 HTTP/1.1\r\nHost: h\r\n\r\n"
            + "POST /3 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n");
        Assert.Equal("/1:abc", (await raw.ReadResponseAsync()).Body);
        Assert.Equal("/2:", (await raw.ReadResponseAsync()).Body);
        Assert.Equal("/3:xy", (await raw.ReadResponseAsync()).Body);
    }

    [Fact]
    public async Task Http10_keep_alive_is_honoured_and_plain_http10_closes()
    {
        await using var host = await TestHost.StartAsync(Apps.Text("hi"));
        using (var keepAlive = host.Connect())
        {
            await keepAlive.SendAsync("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
            var (head, body) = await keepAlive.ReadResponseAsync();
            Assert.Contains("Connection: keep-alive", head, StringComparison.OrdinalIgnoreCase);
            Assert.Equal("hi", body);
            await keepAlive.SendAsync("GET /b HTTP/1.0\r\n\r\n");
            var (last, reset) = await keepAlive.ReadToEndAsync();
            Assert.False(reset);
            Assert.EndsWith("\r\n\r\nhi", last);
        }

        using var plain = host.Connect();
        await plain.SendAsync("GET / HTTP/1.0\r\n\r\n");
        var (text, wasReset) = await plain.ReadToEndAsync();
        Assert.False(wasReset);
        Assert.StartsWith("HTTP/1.1 200 OK", text);
        Assert.EndsWith("\r\n\r\nhi", text);
    }

    [Fact]
    public async Task Malformed_chunked_body_is_a_400_not_a_crash()
    {
        await using var host = await TestHost.StartAsync(Apps.Probe(static (env, start) =>
            new StreamReader((Stream)env["wsgi.input"]!).ReadToEnd()));
        using var raw = host.Connect();
        await raw.SendAsync("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n");
        var (text, _) = await raw.ReadToEndAsync();
        Assert.StartsWith("HTTP/1.1 400", text);
        Assert.Equal("ok", await host.Client.GetStringAsync("/") is { } ? "ok" : "no");
    }

    [Fact]
    public async Task Request_whose_client_left_while_queued_never_reaches_the_app()
    {
        using var release = new ManualResetEventSlim();
        var calls = new List<string>();
        var busy = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await TestHost.StartAsync(
            (env, start) =>
            {
                lock (calls)
                {
                    calls.Add((string)env["PATH_INFO"]!);
                }

                if ((string)env["PATH_INFO"]! == "/busy")
                {
                    busy.TrySetResult();
                    release.Wait(TestHost.Wait);
                }

                start("200 OK", []);
                return [];
            },
            static o => o.WorkerThreads = 1);

        var first = host.Client.GetAsync("/busy");
        await busy.Task.WaitAsync(TestHost.Wait);
        using (var raw = host.Connect())
        {
            await raw.SendAsync("GET /gone HTTP/1.1\r\nHost: h\r\n\r\n");
            var pool = host.Services.GetRequiredService<GatewayWorkerPool>();
            var deadline = DateTime.UtcNow + TestHost.Wait;
            while (pool.QueuedCount == 0 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(10);
            }
        }

        await host.Logs.WaitForAsync(static e => e.Message.Contains("Connection id", StringComparison.Ordinal) && e.Message.Contains("disconnect", StringComparison.OrdinalIgnoreCase));
        release.Set();
        using var done = await first.WaitAsync(TestHost.Wait);
        await host.Logs.WaitForAsync(static e => e.Is(12));
        Assert.Equal(["/busy"], calls);
    }

    [Fact]
    public async Task Timeout_after_the_response_started_cuts_it_short()
    {
        using var release = new ManualResetEventSlim();
        await using var host = await TestHost.StartAsync(
            (env, start) => Body(start),
            static o => o.RequestTimeout = TimeSpan.FromMilliseconds(300));
        using var raw = host.Connect();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        var (text, _) = await raw.ReadToEndAsync();
        release.Set();
        Assert.StartsWith("HTTP/1.1 200 OK", text);
        Assert.Contains("started", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\r\n0\r\n\r\n", text, StringComparison.Ordinal);
        await host.Logs.WaitForAsync(static e => e.Is(11));

        IEnumerable<byte[]> Body(StartResponse start)
        {
            start("200 OK", []);
            yield return Apps.Bytes("started");
            release.Wait(TestHost.Wait);
            yield return Apps.Bytes("too late");
        }
    }
}
