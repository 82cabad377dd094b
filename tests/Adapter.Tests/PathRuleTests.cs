using System.Text;
using System.Text.Json;
using Adapter.Tests.Python;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Adapter.Tests;

/// <summary>
/// SPEC §2's path rule: the app sees the path ASP.NET Core routed and authorized, segment for segment. A C# rule
/// that refuses <c>/f/admin</c> stands in front of an app mounted at <c>/f</c> and one at the root; no escape may
/// carry a request past it.
/// </summary>
public sealed class PathRuleTests
{
    /// <summary>Target, then the expected status, then SCRIPT_NAME|PATH_INFO for a 200 (as Python sees it: bytes read as Latin-1).</summary>
    public static TheoryData<string, int, string> Targets => new()
    {
        { "/f/admin", 403, "" },
        { "/f/x/%2e%2e/admin", 403, "" },
        { "/f/x/..%2fadmin", 400, "" },
        { "/f/x/..%2Fadmin", 400, "" },
        { "/f/.%2fadmin", 400, "" },
        { "/f/%2e%2e%2fadmin", 400, "" },
        { "/f/x/%2E%2E%2Fadmin", 400, "" },
        { "/f/x/.%2e%2fadmin", 400, "" },
        { "/f/a%2f.", 400, "" },
        { "/x/..%2ff/admin", 400, "" },
        { "http://h/f/x/..%2fadmin", 400, "" },
        { "http://h/f/x/%2E%2E/admin", 403, "" },
        { "/x/..%2ff%2fadmin", 400, "" },
        { "/f/x/..%252fadmin", 200, "/f|/x/..%2fadmin" },
        { "/f/%252e%252e/admin", 200, "/f|/%2e%2e/admin" },
        { "/f/x/%c0%ae%c0%ae%2fadmin", 200, "/f|/x/\u00C0\u00AE\u00C0\u00AE/admin" },
        { "/f/x/..%5cadmin", 200, "/f|/x/..\\admin" },
        { "/f/x/..\\admin", 200, "/f|/x/..\\admin" },
        { "/f/group%2Fproject", 200, "/f|/group/project" },
        { "/f/...%2fadmin", 200, "/f|/.../admin" },
    };

    [Theory]
    [MemberData(nameof(Targets))]
    public async Task Escaped_dot_segment_never_carries_a_request_past_a_csharp_path_rule(string target, int status, string paths)
    {
        GatewayApp echo = static (env, start) =>
        {
            start("200 OK", [("Content-Type", "text/plain; charset=utf-8")]);
            return [Encoding.UTF8.GetBytes($"{env["SCRIPT_NAME"]}|{env["PATH_INFO"]}")];
        };
        await using var host = await TestHost.StartAsync(web => Mount(web, echo));
        var (head, body) = await SendAsync(host, target);
        Assert.StartsWith($"HTTP/1.1 {status} ", head);
        if (status == 200)
        {
            // The C# environ reads the decoded bytes as UTF-8; the table gives them as Latin-1, as Python sees them.
            var expected = Encoding.UTF8.GetString(Encoding.Latin1.GetBytes(paths));
            Assert.Equal(expected, Encoding.UTF8.GetString(Encoding.Latin1.GetBytes(body)));
        }
    }

    [PythonTheory]
    [MemberData(nameof(TargetsInBothModes))]
    public async Task Escaped_dot_segment_never_carries_a_python_request_past_a_csharp_path_rule(int processes, string target, int status, string paths)
    {
        await using var host = await PythonHost.StartAsync(
            (web, python) => Mount(web, python.Load("bridge_apps:environ_app")),
            PythonHost.Mode(processes));
        var (head, body) = await SendAsync(host, target);
        Assert.StartsWith($"HTTP/1.1 {status} ", head);
        if (status == 200)
        {
            var environ = JsonSerializer.Deserialize<Dictionary<string, string>>(Encoding.UTF8.GetString(Encoding.Latin1.GetBytes(body)))!;
            Assert.Equal(paths, $"{environ["SCRIPT_NAME"]}|{environ["PATH_INFO"]}");
        }
    }

    public static TheoryData<int, string, int, string> TargetsInBothModes()
    {
        var data = new TheoryData<int, string, int, string>();
        foreach (var processes in new[] { 0, 1 })
        {
            foreach (var row in Targets)
            {
                data.Add(processes, (string)row[0], (int)row[1], (string)row[2]);
            }
        }

        return data;
    }

    [Fact]
    public async Task Refused_path_is_logged_and_never_reaches_the_app()
    {
        var calls = 0;
        await using var host = await TestHost.StartAsync((env, start) =>
        {
            Interlocked.Increment(ref calls);
            start("200 OK", []);
            return [];
        });
        var (head, _) = await SendAsync(host, "/a/..%2f..%2fetc%2fpasswd");
        Assert.StartsWith("HTTP/1.1 400 ", head);
        var entry = await host.Logs.WaitForAsync(static e => e.Is(19));
        Assert.Contains("/a/../../etc/passwd", entry.Message, StringComparison.Ordinal);
        Assert.Equal(0, Volatile.Read(ref calls));
    }

    /// <summary>The rule in front: refuses <c>/f/admin</c> (and below) as routed, the way an authorization policy would.</summary>
    private static void Mount(WebApplication web, GatewayApp app)
    {
        web.Use(static (context, next) =>
        {
            if (context.Request.Path.StartsWithSegments("/f/admin", StringComparison.OrdinalIgnoreCase))
            {
                context.Response.StatusCode = StatusCodes.Status403Forbidden;
                return Task.CompletedTask;
            }

            return next(context);
        });
        web.UseGatewayApp("/f", app);
        web.UseGatewayApp(app);
    }

    private static async Task<(string Head, string Body)> SendAsync(TestHost host, string target)
    {
        using var raw = host.Connect();
        await raw.SendAsync($"GET {target} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        return await raw.ReadResponseAsync();
    }
}
