using System.Net;

namespace Adapter.Tests;

public sealed class BodyTests
{
    private static IEnumerable<byte[]> Generated(StartResponse start, params string[] chunks)
    {
        start("200 OK", [("Content-Type", "text/plain")]);
        foreach (var chunk in chunks)
        {
            yield return Apps.Bytes(chunk);
        }
    }

    [Fact]
    public async Task One_element_collection_gets_a_content_length()
    {
        await using var host = await TestHost.StartAsync(Apps.Text("exactly"));
        using var raw = host.Connect();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        var (text, _) = await raw.ReadToEndAsync();
        Assert.Contains("Content-Length: 7\r\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("Transfer-Encoding", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Generated_body_is_chunked_on_http11()
    {
        await using var host = await TestHost.StartAsync(static (env, start) => Generated(start, "ab", "", "cde"));
        using var raw = host.Connect();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        var (text, reset) = await raw.ReadToEndAsync();
        Assert.False(reset);
        Assert.Contains("Transfer-Encoding: chunked\r\n", text, StringComparison.Ordinal);
        Assert.EndsWith("\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n", text);
    }

    [Fact]
    public async Task Generated_body_is_close_delimited_on_http10()
    {
        await using var host = await TestHost.StartAsync(static (env, start) => Generated(start, "ab", "cde"));
        using var raw = host.Connect();
        await raw.SendAsync("GET / HTTP/1.0\r\n\r\n");
        var (text, reset) = await raw.ReadToEndAsync();
        Assert.False(reset);
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", text);
        Assert.DoesNotContain("chunked", text, StringComparison.Ordinal);
        Assert.DoesNotContain("Content-Length", text, StringComparison.Ordinal);
        Assert.EndsWith("\r\n\r\nabcde", text);
    }

    [Fact]
    public async Task Bytes_past_the_declared_content_length_are_cut_off_and_logged()
    {
        await using var host = await TestHost.StartAsync(static (env, start) =>
        {
            start("200 OK", [("Content-Length", "5")]);
            return [Apps.Bytes("abc"), Apps.Bytes("defgh")];
        });

        using var raw = host.Connect();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        var first = await raw.ReadResponseAsync();
        Assert.Equal("abcde", first.Body);

        // The connection is still in step: nothing extra was sent after the five bytes.
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        Assert.Equal("abcde", (await raw.ReadResponseAsync()).Body);
        await host.Logs.WaitForAsync(static e => e.Is(4) && e.Level == Microsoft.Extensions.Logging.LogLevel.Warning);
    }

    [Fact]
    public async Task Body_short_of_its_content_length_closes_the_connection()
    {
        await using var host = await TestHost.StartAsync(static (env, start) =>
        {
            start("200 OK", [("Content-Length", "100")]);
            return [Apps.Bytes("only ten.."), Apps.Bytes("")];
        });

        using var raw = host.Connect();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        var (text, _) = await raw.ReadToEndAsync();
        Assert.Contains("Content-Length: 100", text, StringComparison.Ordinal);
        var body = text[(text.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..];
        Assert.Equal("only ten..", body);
        await host.Logs.WaitForAsync(static e => e.Is(5));
    }

    [Fact]
    public async Task Head_request_sends_no_body_and_closes_the_iterable()
    {
        var body = new TrackedBody([Apps.Bytes("hello")]);
        await using var host = await TestHost.StartAsync((env, start) =>
        {
            start("200 OK", [("Content-Type", "text/plain"), ("X-App", "1")]);
            return body;
        });

        using var raw = host.Connect();
        await raw.SendAsync("HEAD / HTTP/1.1\r\nHost: h\r\n\r\n");
        var (head, _) = await raw.ReadResponseAsync();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        var (next, _) = await raw.ReadToEndAsync();

        Assert.StartsWith("HTTP/1.1 200 OK", head);
        Assert.Contains("X-App: 1", head, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 200 OK", next);
        Assert.EndsWith("hello\r\n0\r\n\r\n", next);
        Assert.Equal(2, body.Disposals);
    }

    [Theory]
    [InlineData("204 No Content")]
    [InlineData("304 Not Modified")]
    public async Task No_content_statuses_drop_the_body_with_a_warning(string status)
    {
        var body = new TrackedBody([Apps.Bytes("should not be sent")]);
        await using var host = await TestHost.StartAsync((env, start) =>
        {
            start(status, [("X-App", "1")]);
            return body;
        });

        using var raw = host.Connect();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        var (head, content) = await raw.ReadResponseAsync();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        var (next, _) = await raw.ReadToEndAsync();

        Assert.StartsWith($"HTTP/1.1 {status}", head);
        Assert.Contains("X-App: 1", head, StringComparison.Ordinal);
        Assert.Equal("", content);
        Assert.StartsWith($"HTTP/1.1 {status}", next);
        Assert.DoesNotContain("should not", next, StringComparison.Ordinal);
        Assert.Equal(2, body.Disposals);
        await host.Logs.WaitForAsync(static e => e.Is(6));
    }

    [Fact]
    public async Task Iterable_is_disposed_once_after_success()
    {
        var body = new TrackedBody([Apps.Bytes("a"), Apps.Bytes("b")]);
        await using var host = await TestHost.StartAsync((env, start) =>
        {
            start("200 OK", []);
            return body;
        });

        Assert.Equal("ab", await host.Client.GetStringAsync("/"));
        await body.Disposed.WaitAsync(TestHost.Wait);
        Assert.Equal(1, body.Disposals);
    }

    [Fact]
    public async Task Iterable_is_disposed_once_after_the_app_throws()
    {
        var body = new TrackedBody(Failing());
        await using var host = await TestHost.StartAsync((env, start) =>
        {
            start("200 OK", []);
            return body;
        });

        using var response = await host.Client.GetAsync("/");
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        await body.Disposed.WaitAsync(TestHost.Wait);
        Assert.Equal(1, body.Disposals);

        static IEnumerable<byte[]> Failing()
        {
            yield return [];
            throw new InvalidOperationException("boom");
        }
    }

    [Fact]
    public async Task Iterator_finally_runs_when_the_client_goes_away()
    {
        var finallyRan = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await TestHost.StartAsync((env, start) => Endless(start));
        using (var raw = host.Connect())
        {
            await raw.SendAsync("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
            await started.Task.WaitAsync(TestHost.Wait);
        }

        await finallyRan.Task.WaitAsync(TestHost.Wait);
        var disconnect = await host.Logs.WaitForAsync(static e => e.Is(3));
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Debug, disconnect.Level);
        Assert.DoesNotContain(host.Logs.Adapter, static e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Error);

        IEnumerable<byte[]> Endless(StartResponse start)
        {
            start("200 OK", []);
            try
            {
                var chunk = new byte[16 * 1024];
                for (var i = 0; i < 1_000_000; i++)
                {
                    started.TrySetResult();
                    yield return chunk;
                }
            }
            finally
            {
                finallyRan.TrySetResult();
            }
        }
    }

    [Fact]
    public async Task Enumerator_and_iterable_are_each_disposed_once()
    {
        var iterable = new CountingIterable();
        await using var host = await TestHost.StartAsync((env, start) =>
        {
            start("200 OK", []);
            return iterable;
        });

        Assert.Equal("ab", await host.Client.GetStringAsync("/"));
        Assert.Equal(1, iterable.Disposals);
        Assert.Equal(1, iterable.EnumeratorDisposals);
    }

    private sealed class CountingIterable : IEnumerable<byte[]>, IDisposable
    {
        public int Disposals;
        public int EnumeratorDisposals;

        public IEnumerator<byte[]> GetEnumerator() => new Enumerator(this);

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        public void Dispose() => Interlocked.Increment(ref Disposals);

        private sealed class Enumerator(CountingIterable owner) : IEnumerator<byte[]>
        {
            private int _index = -1;

            public byte[] Current => _index == 0 ? Apps.Bytes("a") : Apps.Bytes("b");

            object System.Collections.IEnumerator.Current => Current;

            public bool MoveNext() => ++_index < 2;

            public void Reset() => _index = -1;

            public void Dispose() => Interlocked.Increment(ref owner.EnumeratorDisposals);
        }
    }
}
