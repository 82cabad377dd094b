using System.Net;
using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Adapter.Tests;

public sealed class EnvironTests
{
    private static GatewayApp Capture(TaskCompletionSource<Dictionary<string, object?>> seen) => (environ, startResponse) =>
    {
        seen.TrySetResult(new Dictionary<string, object?>(environ));
        startResponse("200 OK", []);
        return [];
    };

    private static async Task<Dictionary<string, object?>> EnvironOf(TestHost host, TaskCompletionSource<Dictionary<string, object?>> seen, HttpRequestMessage request)
    {
        using var response = await host.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await seen.Task.WaitAsync(TestHost.Wait);
    }

    [Fact]
    public async Task Environ_holds_the_cgi_and_wsgi_keys()
    {
        var seen = new TaskCompletionSource<Dictionary<string, object?>>();
        await using var host = await TestHost.StartAsync(Capture(seen));
        var env = await EnvironOf(host, seen, new HttpRequestMessage(HttpMethod.Get, "/a/b?x=1&y=%20"));

        Assert.Equal("GET", env["REQUEST_METHOD"]);
        Assert.Equal("", env["SCRIPT_NAME"]);
        Assert.Equal("/a/b", env["PATH_INFO"]);
        Assert.Equal("x=1&y=%20", env["QUERY_STRING"]);
        Assert.Equal("127.0.0.1", env["SERVER_NAME"]);
        Assert.Equal(host.Port.ToString(), env["SERVER_PORT"]);
        Assert.Equal("HTTP/1.1", env["SERVER_PROTOCOL"]);
        Assert.Equal("127.0.0.1", env["REMOTE_ADDR"]);
        Assert.True(int.Parse((string)env["REMOTE_PORT"]!) > 0);
        Assert.Equal("/a/b?x=1&y=%20", env["REQUEST_URI"]);
        Assert.Equal(new Version(1, 0), env["wsgi.version"]);
        Assert.Equal("http", env["wsgi.url_scheme"]);
        Assert.IsAssignableFrom<Stream>(env["wsgi.input"]);
        Assert.IsAssignableFrom<TextWriter>(env["wsgi.errors"]);
        Assert.Equal(true, env["wsgi.multithread"]);
        Assert.Equal(false, env["wsgi.multiprocess"]);
        Assert.Equal(false, env["wsgi.run_once"]);
        Assert.Equal(true, env["wsgi.input_terminated"]);
        Assert.IsType<FileWrapper>(env["wsgi.file_wrapper"]);
        Assert.IsAssignableFrom<HttpContext>(env["aspnetcore.http_context"]);
        Assert.IsType<CancellationToken>(env["aspnetcore.request_aborted"]);
        Assert.Equal($"127.0.0.1:{host.Port}", env["HTTP_HOST"]);
        Assert.False(env.ContainsKey("CONTENT_TYPE"));
        Assert.False(env.ContainsKey("CONTENT_LENGTH"));
        Assert.False(env.ContainsKey("REMOTE_USER"));
    }

    [Fact]
    public async Task Content_headers_are_not_prefixed_with_HTTP()
    {
        var seen = new TaskCompletionSource<Dictionary<string, object?>>();
        await using var host = await TestHost.StartAsync(Capture(seen));
        var request = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new StringContent("hello", null, "text/csv") };
        var env = await EnvironOf(host, seen, request);

        Assert.Equal("text/csv; charset=utf-8", env["CONTENT_TYPE"]);
        Assert.Equal("5", env["CONTENT_LENGTH"]);
        Assert.False(env.ContainsKey("HTTP_CONTENT_TYPE"));
        Assert.False(env.ContainsKey("HTTP_CONTENT_LENGTH"));
    }

    [Fact]
    public async Task Repeated_headers_are_joined_and_underscore_names_dropped()
    {
        var seen = new TaskCompletionSource<Dictionary<string, object?>>();
        await using var host = await TestHost.StartAsync(Capture(seen));
        using var raw = host.Connect();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: example.com:8080\r\nX-Multi: a\r\nX-Multi: b\r\nCookie: c=1\r\nCookie: d=2\r\n"
            + "X_Forwarded_For: 6.6.6.6\r\nX-Forwarded-For: 1.2.3.4\r\nConnection: close\r\n\r\n");
        var (text, _) = await raw.ReadToEndAsync();
        Assert.StartsWith("HTTP/1.1 200", text);
        var env = await seen.Task.WaitAsync(TestHost.Wait);

        Assert.Equal("a, b", env["HTTP_X_MULTI"]);
        Assert.Equal("c=1; d=2", env["HTTP_COOKIE"]);
        Assert.Equal("1.2.3.4", env["HTTP_X_FORWARDED_FOR"]);
        Assert.DoesNotContain(env.Keys, static k => k.Contains("X_FORWARDED_FOR", StringComparison.Ordinal) && k != "HTTP_X_FORWARDED_FOR");
        Assert.Equal("example.com", env["SERVER_NAME"]);
        Assert.Equal("8080", env["SERVER_PORT"]);
    }

    [Fact]
    public async Task Lookup_of_an_underscore_header_finds_nothing()
    {
        await using var host = await TestHost.StartAsync(Apps.Probe(static (env, start) =>
            $"{env.ContainsKey("HTTP_X_SECRET")}|{env.TryGetValue("HTTP_X_OK", out var ok)}|{ok}|{env.ContainsKey("http_x_ok")}"));
        using var raw = host.Connect();
        await raw.SendAsync("GET / HTTP/1.1\r\nHost: h\r\nX_Secret: 1\r\nX-Ok: 2\r\nConnection: close\r\n\r\n");
        var (text, _) = await raw.ReadToEndAsync();
        Assert.EndsWith("False|True|2|False", text);
    }

    [Theory]
    [InlineData("/a%2Fb", "/a/b")]
    [InlineData("/caf%C3%A9/x%20y", "/café/x y")]
    [InlineData("/p%252F", "/p%2F")]
    [InlineData("/", "/")]
    public async Task Path_info_is_fully_percent_decoded_as_utf8(string target, string expected)
    {
        var seen = new TaskCompletionSource<Dictionary<string, object?>>();
        await using var host = await TestHost.StartAsync(Capture(seen));
        using var raw = host.Connect();
        await raw.SendAsync($"GET {target} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        await raw.ReadToEndAsync();
        var env = await seen.Task.WaitAsync(TestHost.Wait);
        Assert.Equal(expected, env["PATH_INFO"]);
        Assert.Equal(target, env["REQUEST_URI"]);
    }

    [Fact]
    public async Task Host_less_http10_request_takes_the_local_endpoint()
    {
        var seen = new TaskCompletionSource<Dictionary<string, object?>>();
        await using var host = await TestHost.StartAsync(Capture(seen));
        using var raw = host.Connect();
        await raw.SendAsync("GET /x HTTP/1.0\r\n\r\n");
        await raw.ReadToEndAsync();
        var env = await seen.Task.WaitAsync(TestHost.Wait);
        Assert.Equal("127.0.0.1", env["SERVER_NAME"]);
        Assert.Equal(host.Port.ToString(), env["SERVER_PORT"]);
        Assert.Equal("HTTP/1.0", env["SERVER_PROTOCOL"]);
    }

    [Fact]
    public async Task Environ_is_a_complete_mutable_dictionary()
    {
        await using var host = await TestHost.StartAsync(Apps.Probe(static (env, start) =>
        {
            var method = env["REQUEST_METHOD"];
            var missing = env.TryGetValue("NOPE", out _);
            var keys = env.Keys.ToList();
            var count = env.Count;
            var pairs = env.ToList();
            var copied = new KeyValuePair<string, object?>[env.Count];
            env.CopyTo(copied, 0);
            env["myapp.user"] = "u";
            env.Add("myapp.other", 1);
            var removed = env.Remove("QUERY_STRING");
            var afterRemove = env.ContainsKey("QUERY_STRING");
            env["REQUEST_METHOD"] = "PUT";
            var consistent = keys.Count == count && pairs.Count == count && copied.Length == count
                && keys.All(k => pairs.Any(p => p.Key == k));
            var duplicateAdd = Assert.Throws<ArgumentException>(() => env.Add("myapp.user", 2)) is not null;
            var missingIndex = Assert.Throws<KeyNotFoundException>(() => env["NOPE"]) is not null;
            var result = $"{method}|{missing}|{consistent}|{removed}|{afterRemove}|{env["REQUEST_METHOD"]}|{env["myapp.user"]}|{env.Count == count + 1}|{duplicateAdd}|{missingIndex}|{env.IsReadOnly}";
            env.Clear();
            return result + "|" + env.Count;
        }));

        var body = await host.Client.GetStringAsync("/?q=1");
        Assert.Equal("GET|False|True|True|False|PUT|u|True|True|True|False|0", body);
    }

    [Fact]
    public async Task Each_request_gets_a_fresh_environ()
    {
        await using var host = await TestHost.StartAsync(Apps.Probe(static (env, start) =>
        {
            var before = env.ContainsKey("myapp.mark");
            env["myapp.mark"] = true;
            return before.ToString();
        }));

        Assert.Equal("False", await host.Client.GetStringAsync("/"));
        Assert.Equal("False", await host.Client.GetStringAsync("/"));
    }

    [Fact]
    public async Task Remote_user_is_the_authenticated_name()
    {
        await using var host = await TestHost.StartAsync(web =>
        {
            web.Use((context, next) =>
            {
                if (context.Request.Headers.ContainsKey("X-Login"))
                {
                    context.User = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, "alice")], "test"));
                }

                return next(context);
            });
            web.UseGatewayApp(Apps.Probe(static (env, start) => env.TryGetValue("REMOTE_USER", out var user) ? $"user={user}" : "anonymous"));
        });

        Assert.Equal("anonymous", await host.Client.GetStringAsync("/"));
        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.Add("X-Login", "1");
        using var response = await host.Client.SendAsync(request);
        Assert.Equal("user=alice", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Wsgi_errors_lines_reach_the_logger_with_the_path()
    {
        await using var host = await TestHost.StartAsync(Apps.Probe(static (env, start) =>
        {
            var errors = (TextWriter)env["wsgi.errors"]!;
            errors.WriteLine("first problem");
            errors.Write("second ");
            errors.Write("problem");
            errors.Flush();
            return "ok";
        }));

        Assert.Equal("ok", await host.Client.GetStringAsync("/report"));
        var first = await host.Logs.WaitForAsync(static e => e.Message.Contains("first problem", StringComparison.Ordinal));
        var second = await host.Logs.WaitForAsync(static e => e.Message.Contains("second problem", StringComparison.Ordinal));
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Error, first.Level);
        Assert.Contains("/report", first.Message, StringComparison.Ordinal);
        Assert.True(first.Is(8), $"wsgi.errors lines are event 8, not {first.EventId.Id}.");
        Assert.Equal(first.EventId, second.EventId);
    }

    [Fact]
    public async Task Environ_exposes_the_http_context_and_request_aborted_token()
    {
        await using var host = await TestHost.StartAsync(Apps.Probe(static (env, start) =>
        {
            var context = (HttpContext)env["aspnetcore.http_context"]!;
            var token = (CancellationToken)env["aspnetcore.request_aborted"]!;
            return $"{context.Request.Path}|{token == context.RequestAborted}|{token.CanBeCanceled}";
        }));

        Assert.Equal("/ctx|True|True", await host.Client.GetStringAsync("/ctx"));
    }
}
