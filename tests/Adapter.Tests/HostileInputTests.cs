using Microsoft.Extensions.Logging;
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

    /// <summary>A host whose app reads its whole body and answers it.</summary>
    private static Task<TestHost> StartBodyReaderAsync() =>
        TestHost.StartAsync(Apps.Probe(static (env, start) => new StreamReader((Stream)env["wsgi.input"]!).ReadToEnd()));

    /// <summary>Sends a raw chunked POST with <paramref name="body"/> as its framing and reads to the end.</summary>
    private static async Task<string> PostChunkedAsync(TestHost host, string body)
    {
        using var raw = host.Connect();
        await raw.SendAsync("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + body);
        return (await raw.ReadToEndAsync()).Text;
    }

    [Fact]
    public async Task Malformed_chunked_body_is_a_400_not_a_crash()
    {
        await using var host = await StartBodyReaderAsync();
        var text = await PostChunkedAsync(host, "zz\r\nhello\r\n0\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 400", text);
        Assert.Equal(LogLevel.Warning, (await host.Logs.WaitForAsync(static e => e.Is(9))).Level);

        // The host goes on serving: the probe answers the empty body it read.
        Assert.Equal("", await host.Client.GetStringAsync("/"));
    }

    [Fact]
    public async Task Overflowing_chunk_size_is_the_clients_error_400_with_one_warning()
    {
        await using var host = await StartBodyReaderAsync();
        var text = await PostChunkedAsync(host, "ffffffffffffffffff\r\nhello\r\n0\r\n\r\n");
        Assert.True(text.StartsWith("HTTP/1.1 400", StringComparison.Ordinal), text + "\n" + string.Join("\n", host.Logs.Entries.Select(static e => $"{e.Level} {e.Category}[{e.EventId.Id}] {e.Message} {e.Exception?.GetType()}")));
        await host.Logs.WaitForAsync(static e => e.Is(9));
        Assert.Single(host.Logs.Adapter, static e => e.Level >= LogLevel.Warning);
        Assert.DoesNotContain(host.Logs.Entries, static e => e.Level >= LogLevel.Error);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Client_reset_mid_upload_is_a_debug_departure_counted_canceled(bool appWrapsTheError)
    {
        var reading = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await TestHost.StartAsync((env, start) =>
        {
            var input = (Stream)env["wsgi.input"]!;
            var buffer = new byte[4096];
            input.ReadExactly(buffer, 0, 10);
            reading.TrySetResult();
            try
            {
                while (input.Read(buffer) > 0)
                {
                }
            }
            catch (IOException ex) when (appWrapsTheError)
            {
                // As frameworks do (a Python app's exception arrives wrapped too): the adapter must still know.
                throw new InvalidOperationException("Reading the upload failed.", ex);
            }

            start("200 OK", []);
            return [];
        }, static o => o.RequestSpoolLimit = 0);
        using var metrics = new MetricsCollector(host.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());
        using (var raw = host.Connect())
        {
            await raw.SendAsync("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000\r\n\r\n0123456789");
            await reading.Task.WaitAsync(TestHost.Wait);
            raw.Socket.Close(0);
        }

        Assert.Equal(LogLevel.Debug, (await host.Logs.WaitForAsync(static e => e.Is(3))).Level);
        await metrics.WaitUntilAsync(static m => m.Sum("gateway.requests|gateway.result=canceled") == 1);
        Assert.DoesNotContain(host.Logs.Adapter, static e => e.Level >= LogLevel.Warning);
    }

    [Fact]
    public async Task Client_reset_while_its_body_is_spooled_is_a_debug_departure_that_never_reaches_the_app_or_keeps_a_file()
    {
        var calls = 0;
        await using var host = await TestHost.StartAsync((env, start) =>
        {
            Interlocked.Increment(ref calls);
            start("200 OK", []);
            return [];
        });
        var budget = host.Services.GetRequiredService<GatewayWorkerPool>().SpoolBudget;
        using var metrics = new MetricsCollector(host.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());
        using (var raw = host.Connect())
        {
            await raw.SendAsync("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000\r\n\r\n" + new string('x', 100_000));
            await WaitUntil(() => metrics.Observe("gateway.spool.usage").GetValueOrDefault("") >= 100_000);
            raw.Socket.Close(0);
        }

        Assert.Equal(LogLevel.Debug, (await host.Logs.WaitForAsync(static e => e.Is(3))).Level);
        await metrics.WaitUntilAsync(static m => m.Sum("gateway.requests|gateway.result=canceled") == 1);
        Assert.Equal(0, Volatile.Read(ref calls));
        await WaitUntil(() => budget.Used == 0 && budget.Files == 0);
        Assert.DoesNotContain(host.Logs.Adapter, static e => e.Level >= LogLevel.Warning);
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TestHost.Wait;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "The condition did not hold in time.");
            await Task.Delay(10);
        }
    }

    [Fact]
    public async Task Control_characters_from_the_client_never_reach_a_log_line_raw()
    {
        await using var host = await TestHost.StartAsync(static (env, start) => throw new InvalidOperationException("fails on purpose"));
        using var raw = host.Connect();
        await raw.SendAsync("GET /x%0d%0afail:%20forged HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        await raw.ReadToEndAsync();
        var failed = await host.Logs.WaitForAsync(static e => e.Is(1));
        Assert.DoesNotContain('\r', failed.Message);
        Assert.DoesNotContain('\n', failed.Message);
        Assert.Contains("/x\\x0D\\x0Afail: forged", failed.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/a/.%2e/b", "", "/b")]
    [InlineData("/a/%2E%2E/b", "", "/b")]
    [InlineData("/legacy/a/b/%2E%2e/c", "/legacy", "/a/c")]
    [InlineData("http://h/legacy/a%2Fb", "/legacy", "/a/b")]
    [InlineData("http://h/%FF", "", "/\uFFFD")]
    [InlineData("/legacy/x/%2E/%2e%2E/y/.", "/legacy", "/y/")]
    [InlineData("/%FF", "", "/\uFFFD")]
    [InlineData("/%25FF", "", "/%FF")]
    public async Task Escaped_dot_segments_resolve_as_kestrel_routed_them_and_distinct_targets_stay_distinct(string target, string scriptName, string pathInfo)
    {
        await using var host = await TestHost.StartAsync(static web =>
        {
            GatewayApp echo = static (env, start) =>
            {
                start("200 OK", [("Content-Type", "text/plain; charset=utf-8")]);
                return [System.Text.Encoding.UTF8.GetBytes($"{env["SCRIPT_NAME"]}|{env["PATH_INFO"]}")];
            };
            web.UseGatewayApp("/legacy", echo);
            web.UseGatewayApp(echo);
        });
        using var raw = host.Connect();
        await raw.SendAsync($"GET {target} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        var (head, body) = await raw.ReadResponseAsync();
        Assert.StartsWith("HTTP/1.1 200", head);
        Assert.Equal($"{scriptName}|{pathInfo}", System.Text.Encoding.UTF8.GetString(System.Text.Encoding.Latin1.GetBytes(body)));
    }

    [Fact]
    public async Task Repeated_content_type_is_joined_like_every_repeated_header()
    {
        await using var host = await TestHost.StartAsync(Apps.Probe(static (env, start) => (string)env["CONTENT_TYPE"]!));
        using var raw = host.Connect();
        await raw.SendAsync("POST / HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Type: text/html\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        var (_, body) = await raw.ReadResponseAsync();
        Assert.Equal("text/plain, text/html", body);
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
