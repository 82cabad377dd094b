using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;

namespace Adapter.Tests;

public sealed class InputTests
{
    [Fact]
    public async Task Input_reads_synchronously_with_synchronous_io_disallowed()
    {
        await using var host = await TestHost.StartAsync(Apps.Probe(static (env, start) =>
        {
            var context = (Microsoft.AspNetCore.Http.HttpContext)env["aspnetcore.http_context"]!;
            var syncAllowed = context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpBodyControlFeature>()?.AllowSynchronousIO;
            var input = (Stream)env["wsgi.input"]!;
            var first = (char)input.ReadByte();
            var buffer = new byte[3];
            var read = input.Read(buffer, 0, 3);
            using var reader = new StreamReader(input, leaveOpen: true);
            var line = reader.ReadLine();
            var copy = new MemoryStream();
            reader.BaseStream.CopyTo(copy);
            var rest = reader.ReadToEnd();
            return $"{syncAllowed}|{first}|{Encoding.ASCII.GetString(buffer, 0, read)}|{line}|{rest}|{input.CanSeek}|{input.Read(buffer, 0, 3)}";
        }));

        using var response = await host.Client.PostAsync("/", new StringContent("abcdline one\nline two\n"));
        Assert.Equal("False|a|bcd|line one|line two\n|False|0", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Chunked_request_body_ends_at_its_end()
    {
        await using var host = await TestHost.StartAsync(Apps.Probe(static (env, start) =>
        {
            var input = (Stream)env["wsgi.input"]!;
            var all = new MemoryStream();
            input.CopyTo(all);
            return $"{all.Length}|{env.ContainsKey("CONTENT_LENGTH")}|{input.Read(new byte[10])}";
        }));

        using var raw = host.Connect();
        await raw.SendAsync("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
        var (text, _) = await raw.ReadToEndAsync();
        Assert.EndsWith("11|False|0", text);
    }

    [Fact]
    public async Task App_that_reads_nothing_leaves_the_connection_usable()
    {
        await using var host = await TestHost.StartAsync(Apps.Text("ignored the body"));
        using var raw = host.Connect();
        await raw.SendAsync("POST /1 HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789");
        var first = await raw.ReadResponseAsync();
        await raw.SendAsync("GET /2 HTTP/1.1\r\nHost: h\r\n\r\n");
        var second = await raw.ReadResponseAsync();
        Assert.Equal("ignored the body", first.Body);
        Assert.Equal("ignored the body", second.Body);
    }

    [Fact]
    public async Task Body_is_streamed_to_the_app_before_the_client_finished_sending()
    {
        var firstPart = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await TestHost.StartAsync((env, start) =>
        {
            var input = (Stream)env["wsgi.input"]!;
            var buffer = new byte[5];
            input.ReadExactly(buffer);
            firstPart.TrySetResult(Encoding.ASCII.GetString(buffer));
            var rest = new MemoryStream();
            input.CopyTo(rest);
            start("200 OK", []);
            return [Encoding.ASCII.GetBytes($"rest={rest.Length}")];
        }, static o => (o.RequestBufferSize, o.RequestSpoolLimit) = (0, 0));

        using var raw = host.Connect();
        await raw.SendAsync("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhello");
        Assert.Equal("hello", await firstPart.Task.WaitAsync(TestHost.Wait));
        await raw.SendAsync("world");
        var (text, _) = await raw.ReadToEndAsync();
        Assert.EndsWith("rest=5", text);
    }

    [Fact]
    public async Task Body_cut_short_makes_read_throw_IOException()
    {
        var outcome = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var called = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await TestHost.StartAsync((env, start) =>
        {
            called.TrySetResult();
            var input = (Stream)env["wsgi.input"]!;
            long total = 0;
            try
            {
                var buffer = new byte[100];
                int read;
                while ((read = input.Read(buffer, 0, buffer.Length)) > 0)
                {
                    total += read;
                }

                outcome.TrySetResult($"complete after {total}");
            }
            catch (Exception ex)
            {
                outcome.TrySetResult($"{ex is IOException} after {total}");
                throw;
            }

            start("200 OK", []);
            return [];
        }, static o => (o.RequestBufferSize, o.RequestSpoolLimit) = (0, 0));

        using (var raw = host.Connect())
        {
            await raw.SendAsync("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n0123456789");
            await called.Task.WaitAsync(TestHost.Wait);
            raw.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);
        }

        Assert.Equal("True after 10", await outcome.Task.WaitAsync(TestHost.Wait));
    }

    [Fact]
    public async Task Body_over_the_server_limit_is_answered_413()
    {
        await using var host = await TestHost.StartAsync(
            web => web.UseGatewayApp(static (env, start) =>
            {
                ((Stream)env["wsgi.input"]!).CopyTo(Stream.Null);
                start("200 OK", []);
                return [];
            }),
            builder: static b => b.WebHost.ConfigureKestrel(static k => k.Limits.MaxRequestBodySize = 1000));

        using var chunked = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new StreamContent(new MemoryStream(new byte[5000])) };
        chunked.Headers.TransferEncodingChunked = true;
        using var response = await host.Client.SendAsync(chunked);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.DoesNotContain(host.Logs.Adapter, static e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Error);
    }
}
