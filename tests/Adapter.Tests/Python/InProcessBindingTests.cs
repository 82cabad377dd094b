using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Adapter.Tests.Python;

/// <summary>
/// What the in-process C-API binding owes an app (pyapps/binding_apps.py): start_response's refusals raised inside the
/// app as the Python servers raise them, references released on the request's own thread, a vanished client seen
/// as an I/O error, and the GIL let go while a request waits for its body.
/// </summary>
public sealed class InProcessBindingTests
{
    [PythonTheory]
    [InlineData(0, "status-bytes", "TypeError")]
    [InlineData(0, "headers-tuple", "TypeError")]
    [InlineData(0, "header-not-pair", "TypeError")]
    [InlineData(0, "header-value-int", "TypeError")]
    [InlineData(0, "unknown-keyword", "TypeError")]
    [InlineData(0, "status-invalid", "ValueError")]
    [InlineData(0, "hop-by-hop", "ValueError")]
    [InlineData(0, "twice", "AssertionError")]
    [InlineData(1, "status-bytes", "TypeError")]
    [InlineData(1, "header-value-int", "TypeError")]
    [InlineData(1, "status-invalid", "ValueError")]
    [InlineData(1, "twice", "AssertionError")]
    public async Task Start_response_refusals_are_raised_inside_the_app_as_python_servers_raise_them(int processes, string call, string raised)
    {
        await using var host = await PythonHost.StartAsync("binding_apps:start_response_types_app", PythonHost.Mode(processes));
        using var response = await host.Client.GetAsync($"/?{call}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith(raised + ": ", await response.Content.ReadAsStringAsync());
    }

    [PythonTheory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task Exc_info_may_be_passed_by_keyword(int processes)
    {
        await using var host = await PythonHost.StartAsync("binding_apps:start_response_types_app", PythonHost.Mode(processes));
        using var response = await host.Client.GetAsync("/?keyword-exc-info");
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("accepted", await response.Content.ReadAsStringAsync());
    }

    [PythonFact]
    public async Task Generator_chunk_that_is_not_bytes_is_a_500_naming_its_type()
    {
        await using var host = await PythonHost.StartAsync("binding_apps:generator_not_bytes_app");
        using var response = await host.Client.GetAsync("/");
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        var logged = await host.Logs.WaitForAsync(static e => e.Is(1));
        Assert.Contains("TypeError: the app yielded str", logged.Exception!.Message, StringComparison.Ordinal);
    }

    [PythonFact]
    public async Task App_iterable_is_freed_on_the_worker_thread_when_its_response_ends()
    {
        await using var host = await PythonHost.StartAsync("binding_apps:released_app", static o => o.Threads = 1);
        var token = Guid.NewGuid().ToString("N");
        Assert.Equal("tracked", await host.Client.GetStringAsync($"/?{token}"));

        // The response is complete once the iterable is closed and released: nothing waits for a finalizer or a GC.
        var freedOn = await host.Client.GetStringAsync($"/report?{token}");
        Assert.StartsWith("'Gateway python", freedOn);
    }

    [PythonFact]
    public async Task Write_to_a_client_gone_raises_os_error_in_the_app_and_is_logged_as_a_disconnect()
    {
        await using var host = await PythonHost.StartAsync("binding_apps:write_until_gone_app");
        var token = Guid.NewGuid().ToString("N");
        using (var client = new TcpClient())
        {
            await client.ConnectAsync(IPAddress.Loopback, host.Port);
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET /?{token} HTTP/1.1\r\nHost: h\r\n\r\n"));

            // Some of the body arrives, then the client goes, leaving the app in the middle of its writes.
            var buffer = new byte[65536];
            Assert.True(await stream.ReadAsync(buffer).AsTask().WaitAsync(TestHost.Wait) > 0);
            client.Client.LingerState = new LingerOption(true, 0);
        }

        await host.Logs.WaitForAsync(static e => e.Is(3));
        Assert.Equal("'OSError'", await host.Client.GetStringAsync($"/report?{token}"));
        Assert.DoesNotContain(host.Logs.Adapter, static e => e.Is(1) || e.Is(2));
    }

    [PythonFact]
    public async Task Gil_kept_between_chunks_is_let_go_while_the_adapter_waits_for_a_slow_client()
    {
        // No spool: a body past the buffer waits for the client, with the app's thread between two chunks.
        await using var host = await PythonHost.StartAsync(
            static (app, python) => app.UseGatewayApp(python.Load("binding_apps:big_body_app")),
            static o => o.Threads = 2,
            static gateway => gateway.ResponseSpoolLimit = 0);
        using var client = new TcpClient { ReceiveBufferSize = 4096 };
        await client.ConnectAsync(IPAddress.Loopback, host.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("GET /big HTTP/1.1\r\nHost: h\r\n\r\n"));
        var buffer = new byte[65536];
        long total = await stream.ReadAsync(buffer).AsTask().WaitAsync(TestHost.Wait);
        var head = Encoding.ASCII.GetString(buffer, 0, (int)total).IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4;
        Assert.True(head > 4, "the status and headers come first, in one read");

        // The first request's thread now waits for this client to read, holding no GIL: another request's Python runs.
        Assert.Equal("quick", await host.Client.GetStringAsync("/quick").WaitAsync(TestHost.Wait));

        // And the whole body still arrives.
        while (total < head + (32 << 20))
        {
            var read = await stream.ReadAsync(buffer).AsTask().WaitAsync(TestHost.Wait);
            Assert.True(read > 0, $"the body ended after {total - head} bytes");
            total += read;
        }
    }

    [PythonFact]
    public async Task Gil_is_let_go_while_a_request_waits_for_its_body()
    {
        // Nothing read ahead: the body streams to the app as it arrives.
        await using var host = await PythonHost.StartAsync(
            static (app, python) => app.UseGatewayApp(python.Load("binding_apps:slow_body_app")),
            static o => o.Threads = 2,
            static gateway => (gateway.RequestBufferSize, gateway.RequestSpoolLimit) = (0, 0));
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, host.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("POST /read HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nhalf "));

        // The first request's thread is inside wsgi.input.read(), waiting for the other five bytes: another request's
        // Python runs meanwhile, which it could not if the waiting thread held the GIL.
        Assert.Equal("quick", await host.Client.GetStringAsync("/quick").WaitAsync(TestHost.Wait));

        await stream.WriteAsync(Encoding.ASCII.GetBytes("done!"));
        var answer = new StringBuilder();
        var buffer = new byte[4096];
        while (!answer.ToString().EndsWith("read 10", StringComparison.Ordinal))
        {
            var read = await stream.ReadAsync(buffer).AsTask().WaitAsync(TestHost.Wait);
            Assert.True(read > 0, $"the connection closed after: {answer}");
            answer.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }
    }
}
