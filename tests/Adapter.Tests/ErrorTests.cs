using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Adapter.Tests;

public sealed class ErrorTests
{
    private static IEnumerable<byte[]> Throwing(IDictionary<string, object?> env, StartResponse start) =>
        throw new InvalidOperationException("secret detail");

    [Fact]
    public async Task Failure_before_headers_is_a_plain_500_without_details_and_logged()
    {
        await using var host = await TestHost.StartAsync(Throwing);
        using var response = await host.Client.GetAsync("/broken?x=1");
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.DoesNotContain("secret", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var logged = await host.Logs.WaitForAsync(static e => e.Is(1));
        Assert.Equal(LogLevel.Error, logged.Level);
        Assert.Contains("GET /broken", logged.Message, StringComparison.Ordinal);
        Assert.Equal("secret detail", logged.Exception!.Message);
    }

    [Fact]
    public async Task Failure_before_headers_flows_into_the_pipelines_exception_handler()
    {
        await using var host = await TestHost.StartAsync(web =>
        {
            web.UseExceptionHandler(static handler => handler.Run(static context =>
            {
                var error = context.Features.Get<Microsoft.AspNetCore.Diagnostics.IExceptionHandlerFeature>()!.Error;
                context.Response.StatusCode = 500;
                return context.Response.WriteAsync($"handled: {error.GetType().Name}");
            }));
            web.UseGatewayApp(Throwing);
        });

        using var response = await host.Client.GetAsync("/");
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal("handled: InvalidOperationException", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Returning_null_is_a_500()
    {
        await using var host = await TestHost.StartAsync(static (env, start) => null!);
        using var response = await host.Client.GetAsync("/");
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
    }

    [Fact]
    public async Task Never_calling_start_response_is_a_500()
    {
        await using var host = await TestHost.StartAsync(static (env, start) => []);
        using var response = await host.Client.GetAsync("/");
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        await host.Logs.WaitForAsync(static e => e.Is(1) && e.Exception!.Message.Contains("start_response", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Failure_after_headers_aborts_the_connection()
    {
        await using var host = await TestHost.StartAsync(static (env, start) => Body(start));
        using var raw = host.Connect();
        await raw.SendAsync("GET /late HTTP/1.1\r\nHost: h\r\n\r\n");
        var (text, _) = await raw.ReadToEndAsync();
        Assert.StartsWith("HTTP/1.1 200 OK", text);
        Assert.DoesNotContain("\r\n0\r\n\r\n", text, StringComparison.Ordinal);
        var logged = await host.Logs.WaitForAsync(static e => e.Is(2));
        Assert.Contains("GET /late", logged.Message, StringComparison.Ordinal);

        static IEnumerable<byte[]> Body(StartResponse start)
        {
            start("200 OK", []);
            yield return Apps.Bytes("partial");
            throw new InvalidOperationException("late failure");
        }
    }

    [Fact]
    public async Task Failure_after_headers_with_content_length_leaves_the_body_short()
    {
        await using var host = await TestHost.StartAsync(static (env, start) => Body(start));
        using var raw = host.Connect();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        var (text, _) = await raw.ReadToEndAsync();
        Assert.Contains("Content-Length: 20", text, StringComparison.Ordinal);
        Assert.EndsWith("\r\n\r\npartial", text);

        static IEnumerable<byte[]> Body(StartResponse start)
        {
            start("200 OK", [("Content-Length", "20")]);
            yield return Apps.Bytes("partial");
            throw new InvalidOperationException("late failure");
        }
    }

    [Fact]
    public async Task Write_after_the_client_left_throws_into_the_app()
    {
        var outcome = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await TestHost.StartAsync((env, start) =>
        {
            var write = start("200 OK", []);
            var token = (CancellationToken)env["aspnetcore.request_aborted"]!;
            try
            {
                for (var i = 0; i < 1_000_000; i++)
                {
                    write(new byte[8192]);
                    started.TrySetResult();
                }

                outcome.TrySetResult("never stopped");
            }
            catch (IOException)
            {
                outcome.TrySetResult($"stopped, token canceled: {token.IsCancellationRequested}");
                throw;
            }

            return [];
        });

        using (var raw = host.Connect())
        {
            await raw.SendAsync("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
            await started.Task.WaitAsync(TestHost.Wait);
        }

        Assert.Equal("stopped, token canceled: True", await outcome.Task.WaitAsync(TestHost.Wait));
        await host.Logs.WaitForAsync(static e => e.Is(3));
        Assert.DoesNotContain(host.Logs.Adapter, static e => e.Level >= LogLevel.Error);
    }

    [Fact]
    public async Task Dispose_that_throws_is_logged_and_the_host_keeps_serving()
    {
        await using var host = await TestHost.StartAsync(static (env, start) =>
        {
            start("200 OK", []);
            return new ThrowingDispose();
        });

        Assert.Equal("body", await host.Client.GetStringAsync("/"));
        Assert.Equal("body", await host.Client.GetStringAsync("/"));
        await host.Logs.WaitForAsync(static e => e.Is(7) && e.Level == LogLevel.Error);
    }

    [Fact]
    public async Task Enumerator_dispose_that_throws_after_a_chunked_body_is_logged_and_the_response_completes()
    {
        // The C# side of issue 18, item 4 (a Python close() that raises): the body is whole, so the response completes.
        await using var host = await TestHost.StartAsync(static (env, start) =>
        {
            start("200 OK", []);
            return new ThrowingEnumeratorDispose();
        });
        using var raw = host.Connect();

        await raw.SendAsync("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        var (head, body) = await raw.ReadResponseAsync();

        Assert.Contains("Transfer-Encoding: chunked", head, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("first second", body);
        var failed = Assert.Single(host.Logs.Adapter, static e => e.Level >= LogLevel.Error);
        Assert.True(failed.Is(7), $"{failed.EventId.Id} {failed.Message}");
    }

    private sealed class ThrowingEnumeratorDispose : IEnumerable<byte[]>
    {
        public IEnumerator<byte[]> GetEnumerator() => new Enumerator();

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        private sealed class Enumerator : IEnumerator<byte[]>
        {
            private readonly byte[][] _chunks = [Apps.Bytes("first "), Apps.Bytes("second")];
            private int _index = -1;

            public byte[] Current => _chunks[_index];

            object System.Collections.IEnumerator.Current => Current;

            public bool MoveNext() => ++_index < _chunks.Length;

            public void Reset() => throw new NotSupportedException();

            public void Dispose() => throw new InvalidOperationException("enumerator dispose failed");
        }
    }

    private sealed class ThrowingDispose : IEnumerable<byte[]>, IDisposable
    {
        public IEnumerator<byte[]> GetEnumerator() => ((IEnumerable<byte[]>)[Apps.Bytes("body")]).GetEnumerator();

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        public void Dispose() => throw new InvalidOperationException("close failed");
    }
}
