using System.Net;
using Microsoft.Extensions.Logging;

namespace Adapter.Tests.Python;

/// <summary>
/// CPython's own <c>wsgiref.validate.validator</c> around an app (pyapps/validated_app.py): any PEP 3333
/// violation on the adapter's side raises inside the app, which fails the request and logs an error.
/// </summary>
public sealed class WsgiValidatorTests
{
    [PythonTheory]
    [InlineData(0)]
    [InlineData(2)]
    public async Task Validator_finds_nothing_wrong_with_get_post_head_and_a_streamed_body(int processes)
    {
        await using var host = await PythonHost.StartAsync("validated_app:app", PythonHost.Mode(processes));

        Assert.Equal("validated /some/path", await host.Client.GetStringAsync("/some/path?x=1"));

        using var posted = await host.Client.PostAsync("/submit", new StringContent("payload"));
        Assert.Equal(HttpStatusCode.OK, posted.StatusCode);
        Assert.Equal("received payload", await posted.Content.ReadAsStringAsync());

        using var head = await host.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/head"));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);

        var streamed = await host.Client.GetStringAsync("/stream");
        Assert.Equal(string.Concat(Enumerable.Range(0, 20).Select(static i => $"chunk {i}\n")), streamed);

        Assert.DoesNotContain(host.Logs.Entries, static e => e.Level >= LogLevel.Warning && e.Category.StartsWith("Adapter", StringComparison.Ordinal));
    }
}
