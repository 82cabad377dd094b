using System.Net;

namespace Adapter.Tests;

public sealed class StartResponseTests
{
    [Fact]
    public async Task Status_line_carries_the_apps_reason_phrase()
    {
        await using var host = await TestHost.StartAsync(Apps.Text("teapot", "418 Short And Stout"));
        using var raw = host.Connect();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        var (text, _) = await raw.ReadToEndAsync();
        Assert.StartsWith("HTTP/1.1 418 Short And Stout\r\n", text);
    }

    [Fact]
    public async Task Bare_status_code_is_accepted()
    {
        await using var host = await TestHost.StartAsync(Apps.Text("made", "201"));
        using var response = await host.Client.GetAsync("/");
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("made", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("OK")]
    [InlineData("20 OK")]
    [InlineData("2000 OK")]
    [InlineData("200OK")]
    [InlineData("abc Nope")]
    [InlineData("200 OK\r\nX-Injected: 1")]
    [InlineData("099 Too Low")]
    public async Task Malformed_status_is_refused_inside_the_app(string status)
    {
        await using var host = await TestHost.StartAsync(Apps.Probe((env, start) =>
        {
            var error = Assert.ThrowsAny<ArgumentException>(() => start(status, []));
            return error.Message.Contains("status", StringComparison.OrdinalIgnoreCase) ? "refused" : error.Message;
        }));

        Assert.Equal("refused", await host.Client.GetStringAsync("/"));
    }

    [Theory]
    [InlineData("X-Bad", "a\r\nSet-Cookie: evil=1")]
    [InlineData("X-Bad", "line\nbreak")]
    [InlineData("X-Bad", "nul\0")]
    [InlineData("X-Bad", "tab\tbell\a")]
    [InlineData("X Bad", "space in name")]
    [InlineData("X-Bad:", "colon in name")]
    [InlineData("", "empty name")]
    [InlineData("Connection", "close")]
    [InlineData("Transfer-Encoding", "chunked")]
    [InlineData("keep-alive", "timeout=5")]
    [InlineData("Upgrade", "websocket")]
    [InlineData("TE", "trailers")]
    [InlineData("Trailer", "X-Foo")]
    [InlineData("Proxy-Authenticate", "Basic")]
    [InlineData("Proxy-Authorization", "Basic")]
    [InlineData("Content-Length", "12abc")]
    public async Task Bad_or_hop_by_hop_header_is_refused_naming_it(string name, string value)
    {
        await using var host = await TestHost.StartAsync(Apps.Probe((env, start) =>
        {
            var error = Assert.ThrowsAny<ArgumentException>(() => start("200 OK", [("Content-Type", "text/plain"), (name, value)]));
            return name.Length == 0 || error.Message.Contains($"'{name}'", StringComparison.Ordinal) ? "refused" : error.Message;
        }));

        Assert.Equal("refused", await host.Client.GetStringAsync("/"));
    }

    [Fact]
    public async Task Headers_wait_for_the_first_non_empty_chunk()
    {
        await using var host = await TestHost.StartAsync(static (env, start) => Body(start));
        using var response = await host.Client.GetAsync("/");

        // The app failed after start_response but before any byte: the client sees a 500, never the 200.
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.False(response.Headers.Contains("X-First"));

        static IEnumerable<byte[]> Body(StartResponse start)
        {
            start("200 OK", [("X-First", "1")]);
            yield return [];
            yield return [];
            throw new InvalidOperationException("failed before the body");
        }
    }

    [Fact]
    public async Task Second_start_response_without_exc_info_throws()
    {
        await using var host = await TestHost.StartAsync(static (env, start) =>
        {
            start("200 OK", []);
            Assert.Throws<InvalidOperationException>(() => start("201 Created", []));
            return [Apps.Bytes("threw")];
        });
        Assert.Equal("threw", await host.Client.GetStringAsync("/"));
    }

    [Fact]
    public async Task Exc_info_before_the_body_replaces_status_and_headers_completely()
    {
        await using var host = await TestHost.StartAsync(static (env, start) =>
        {
            start("200 OK", [("X-First", "1"), ("Content-Type", "text/html")]);
            try
            {
                throw new InvalidOperationException("boom");
            }
            catch (InvalidOperationException ex)
            {
                start("500 Internal Error", [("Content-Type", "text/plain"), ("X-Second", "2")], ex);
            }

            return [Apps.Bytes("sorry")];
        });

        using var response = await host.Client.GetAsync("/");
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal("sorry", await response.Content.ReadAsStringAsync());
        Assert.False(response.Headers.Contains("X-First"));
        Assert.Equal("2", response.Headers.GetValues("X-Second").Single());
        Assert.Equal("text/plain", response.Content.Headers.ContentType!.ToString());
    }

    [Fact]
    public async Task Exc_info_after_headers_were_sent_rethrows_the_apps_error()
    {
        var rethrown = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await TestHost.StartAsync((env, start) => Body(start));
        using var raw = host.Connect();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        var (text, _) = await raw.ReadToEndAsync();
        Assert.True(await rethrown.Task.WaitAsync(TestHost.Wait));
        Assert.StartsWith("HTTP/1.1 200", text);
        Assert.DoesNotContain("0\r\n\r\n", text, StringComparison.Ordinal);

        IEnumerable<byte[]> Body(StartResponse start)
        {
            var write = start("200 OK", []);
            write(Apps.Bytes("partial"));
            var original = new InvalidOperationException("mid-stream failure");
            try
            {
                start("500 Oops", [], original);
            }
            catch (InvalidOperationException ex)
            {
                rethrown.TrySetResult(ReferenceEquals(ex, original));
                throw;
            }

            yield break;
        }
    }

    [Fact]
    public async Task Write_sends_at_once_and_keeps_order_with_yielded_chunks()
    {
        var firstArrived = new ManualResetEventSlim();
        await using var host = await TestHost.StartAsync((env, start) => Body(start));
        using var response = await host.Client.GetAsync("/", HttpCompletionOption.ResponseHeadersRead);
        var stream = await response.Content.ReadAsStreamAsync();
        var first = new byte[5];
        await stream.ReadExactlyAsync(first).AsTask().WaitAsync(TestHost.Wait);
        firstArrived.Set();
        var rest = await new StreamReader(stream).ReadToEndAsync().WaitAsync(TestHost.Wait);
        Assert.Equal("write", Apps.Bytes("write").SequenceEqual(first) ? "write" : "?");
        Assert.Equal("-yield1-write2-yield2", rest);

        IEnumerable<byte[]> Body(StartResponse start)
        {
            var write = start("200 OK", []);
            write(Apps.Bytes("write"));

            // write() sent its bytes before returning: the client has them while the app still runs.
            Assert.True(firstArrived.Wait(TestHost.Wait));
            yield return Apps.Bytes("-yield1");
            write(Apps.Bytes("-write2"));
            yield return Apps.Bytes("-yield2");
        }
    }

    [Fact]
    public async Task Repeated_response_headers_are_all_sent_and_app_date_and_server_kept()
    {
        await using var host = await TestHost.StartAsync(static (env, start) =>
        {
            start("200 OK", [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("Date", "Tue, 01 Jan 2030 00:00:00 GMT"), ("Server", "legacy/1.0")]);
            return [Apps.Bytes("x")];
        });

        using var response = await host.Client.GetAsync("/");
        Assert.Equal(["a=1", "b=2"], response.Headers.GetValues("Set-Cookie"));
        Assert.Equal("legacy/1.0", response.Headers.GetValues("Server").Single());
        Assert.Equal("Tue, 01 Jan 2030 00:00:00 GMT", response.Headers.GetValues("Date").Single());
    }

    [Fact]
    public async Task Without_app_date_and_server_kestrels_apply()
    {
        await using var host = await TestHost.StartAsync(Apps.Text("x"));
        using var response = await host.Client.GetAsync("/");
        Assert.Equal("Kestrel", response.Headers.GetValues("Server").Single());
        Assert.True(response.Headers.Date.HasValue);
    }

    [Fact]
    public async Task Null_chunk_is_the_apps_error()
    {
        await using var host = await TestHost.StartAsync(static (env, start) =>
        {
            start("200 OK", []);
            return [null!];
        });

        using var response = await host.Client.GetAsync("/");
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        await host.Logs.WaitForAsync(static e => e.Is(1) && e.Exception!.Message.Contains("null chunk", StringComparison.Ordinal));
    }
}
