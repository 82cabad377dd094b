using System.Net;

namespace Adapter.Tests.Python;

/// <summary>
/// Issue 18, item 4: an iterable whose <c>close()</c> raises once the app has produced its body
/// (pyapps/fidelity_apps.py, <c>close_raises_app</c>). gunicorn completes that response; so does the adapter, in-process (0)
/// and in a worker process (1), and it logs the failure once, with its traceback. Before any body it stays a 500.
/// </summary>
public sealed class IterableCloseTests
{
    [PythonTheory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task Close_that_raises_after_the_body_is_logged_once_and_the_chunked_response_completes(int processes)
    {
        await using var host = await PythonHost.StartAsync("fidelity_apps:close_raises_app", PythonHost.Mode(processes));
        using var raw = host.Connect();

        // Read to the terminating chunk (0\r\n\r\n): a response cut short ends the connection before it, which throws here.
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
        var (head, body) = await raw.ReadResponseAsync();
        Assert.StartsWith("HTTP/1.1 200 ", head, StringComparison.Ordinal);
        Assert.Contains("Transfer-Encoding: chunked", head, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("first second", body);

        // The connection is still in step: a second request on it is answered whole too.
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        Assert.Equal("first second", (await raw.ReadResponseAsync()).Body);

        // close() runs before the last chunk goes out, so both failures are logged by now: once each, with the traceback.
        var failures = host.Logs.Entries.Where(static e => e.Message.Contains("close() failed on purpose", StringComparison.Ordinal)
            || e.Exception?.Message.Contains("close() failed on purpose", StringComparison.Ordinal) == true).ToArray();
        Assert.Equal(2, failures.Length);
        Assert.All(failures, static e =>
        {
            Assert.True(e.Is(7), $"{e.Category}[{e.EventId.Id}] {e.Message}");
            var text = e.Exception!.Message;
            Assert.Contains("RuntimeError: fidelity close() failed on purpose", text, StringComparison.Ordinal);
            Assert.Single(text.Split("Traceback (most recent call last):").Skip(1));
            Assert.Contains("in close", text, StringComparison.Ordinal);
        });
        Assert.DoesNotContain(host.Logs.Adapter, static e => e.Is(1) || e.Is(2));
    }

    [PythonTheory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task Close_that_raises_before_any_body_is_a_500(int processes)
    {
        await using var host = await PythonHost.StartAsync("fidelity_apps:close_raises_app", PythonHost.Mode(processes));

        using var response = await host.Client.GetAsync("/?empty=1");

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        var failed = await host.Logs.WaitForAsync(static e => e.Is(1));
        Assert.Contains("close() failed on purpose", failed.Exception?.Message ?? failed.Message, StringComparison.Ordinal);
    }
}
