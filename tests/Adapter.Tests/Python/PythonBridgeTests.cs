using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;

namespace Adapter.Tests.Python;

/// <summary>The bridge itself, with plain WSGI apps in real CPython (pyapps/bridge_apps.py).</summary>
public sealed class PythonBridgeTests
{
    [PythonFact]
    public async Task Environ_is_a_dict_of_native_strings_with_path_info_from_the_raw_target()
    {
        await using var host = await PythonHost.StartAsync((app, python) => app.MapGatewayApp("/py", python.Load("bridge_apps:environ_app")));
        using var request = new HttpRequestMessage(HttpMethod.Get, "/py/caf%C3%A9/a%2Fb/%FF?q=1&r=%C3%A9");
        request.Headers.Add("X-Custom", "one");
        request.Headers.Add("Cookie", ["a=1", "b=2"]);
        using var response = await host.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var environ = JsonSerializer.Deserialize<Dictionary<string, string>>(await response.Content.ReadAsStringAsync())!;

        Assert.Equal("GET", environ["REQUEST_METHOD"]);
        Assert.Equal("/py", environ["SCRIPT_NAME"]);

        // The UTF-8 bytes of "é" read as Latin-1, %2F kept as a slash, and %FF (not UTF-8) as the one byte it is.
        Assert.Equal("/caf\u00C3\u00A9/a/b/\u00FF", environ["PATH_INFO"]);
        Assert.Equal("q=1&r=%C3%A9", environ["QUERY_STRING"]);
        Assert.Equal("/py/caf%C3%A9/a%2Fb/%FF?q=1&r=%C3%A9", environ["REQUEST_URI"]);
        Assert.Equal("one", environ["HTTP_X_CUSTOM"]);
        Assert.Equal("a=1; b=2", environ["HTTP_COOKIE"]);
        Assert.Equal("127.0.0.1", environ["SERVER_NAME"]);
        Assert.Equal(host.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), environ["SERVER_PORT"]);
        Assert.Equal("HTTP/1.1", environ["SERVER_PROTOCOL"]);
        Assert.Equal("(1, 0)", environ["wsgi.version"]);
        Assert.Equal("http", environ["wsgi.url_scheme"]);
        Assert.Equal("True", environ["wsgi.multithread"]);
        Assert.Equal("False", environ["wsgi.multiprocess"]);
        Assert.Equal("False", environ["wsgi.run_once"]);
        Assert.Equal("Input", environ["wsgi.input"]);
        Assert.Equal("Errors", environ["wsgi.errors"]);
        Assert.Equal("type", environ["wsgi.file_wrapper"]);
        Assert.DoesNotContain("CONTENT_LENGTH", environ.Keys);
    }

    [PythonFact]
    public async Task Path_info_rewritten_by_csharp_middleware_is_what_python_sees()
    {
        await using var host = await PythonHost.StartAsync(static (app, python) =>
        {
            var inner = python.Load("bridge_apps:environ_app");
            app.UseGatewayApp((environ, start) =>
            {
                environ["PATH_INFO"] = "/rewritten/caf\u00E9";
                return inner(environ, start);
            });
        });
        var environ = JsonSerializer.Deserialize<Dictionary<string, string>>(await host.Client.GetStringAsync("/original%2Fpath"))!;
        Assert.Equal("/rewritten/caf\u00C3\u00A9", environ["PATH_INFO"]);
    }

    [PythonTheory]
    [InlineData("read", "ab\ncdef\ngh")]
    [InlineData("read-n", "ab\n|cde|f\ng|h|")]
    [InlineData("readline", "ab\n|cdef|\ngh")]
    [InlineData("readlines", "ab\n|cdef\n|gh")]
    [InlineData("iterate", "ab\n|cdef\n|gh")]
    public async Task Input_is_a_file_like_object_over_the_body(string mode, string expected)
    {
        await using var host = await PythonHost.StartAsync("bridge_apps:input_app");
        using var response = await host.Client.PostAsync("/?" + mode, new StringContent("ab\ncdef\ngh"));
        Assert.Equal(expected, await response.Content.ReadAsStringAsync());
    }

    [PythonFact]
    public async Task Chunked_upload_is_read_whole()
    {
        await using var host = await PythonHost.StartAsync("bridge_apps:input_app");
        var body = new byte[300_000];
        Random.Shared.NextBytes(body);
        using var content = new StreamContent(new MemoryStream(body));
        content.Headers.ContentLength = null;
        using var request = new HttpRequestMessage(HttpMethod.Post, "/?read") { Content = content };
        request.Headers.TransferEncodingChunked = true;
        using var response = await host.Client.SendAsync(request);
        Assert.Equal(body, await response.Content.ReadAsByteArrayAsync());
    }

    [PythonFact]
    public async Task Errors_lines_reach_the_logger()
    {
        await using var host = await PythonHost.StartAsync("bridge_apps:errors_app");
        Assert.Equal("logged", await host.Client.GetStringAsync("/"));
        await host.Logs.WaitForAsync(static e => e.Message.Contains("first line from python", StringComparison.Ordinal));
        await host.Logs.WaitForAsync(static e => e.Message.Contains("second line", StringComparison.Ordinal));
    }

    [PythonFact]
    public async Task Bad_header_raises_value_error_inside_the_app()
    {
        var body = await PythonHost.GetStringAsync("bridge_apps:bad_header_app");
        Assert.StartsWith("ValueError: ", body);
        Assert.Contains("X-Bad", body);
    }

    [PythonFact]
    public async Task Headers_that_are_not_a_list_raise_type_error_inside_the_app()
    {
        Assert.StartsWith("TypeError: ", await PythonHost.GetStringAsync("bridge_apps:type_error_app"));
    }

    [PythonFact]
    public async Task Exc_info_before_the_body_replaces_status_and_headers()
    {
        await using var host = await PythonHost.StartAsync("bridge_apps:exc_info_app");
        using var response = await host.Client.GetAsync("/");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.False(response.Headers.Contains("X-First"));
        Assert.Equal("replaced", await response.Content.ReadAsStringAsync());
    }

    [PythonFact]
    public async Task Exc_info_after_the_headers_were_sent_re_raises_the_apps_error()
    {
        await using var host = await PythonHost.StartAsync("bridge_apps:exc_info_late_app");
        using var response = await host.Client.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("first re-raised 'late failure'", await response.Content.ReadAsStringAsync());
    }

    [PythonFact]
    public async Task Write_and_yielded_chunks_keep_their_order()
    {
        Assert.Equal("written then yielded", await PythonHost.GetStringAsync("bridge_apps:write_app"));
    }

    [PythonFact]
    public async Task Close_is_called_exactly_once()
    {
        await using var host = await PythonHost.StartAsync((app, python) =>
        {
            app.MapGatewayApp("/closing", python.Load("bridge_apps:closing_app"));
            app.MapGatewayApp("/count", python.Load("bridge_apps:closed_count"));
        });
        var name = Guid.NewGuid().ToString("N");
        Assert.Equal("one two", await host.Client.GetStringAsync("/closing?" + name));
        Assert.Equal("1", await host.Client.GetStringAsync("/count?" + name));
    }

    [PythonFact]
    public async Task Exception_before_the_headers_is_a_500_with_the_python_traceback_logged()
    {
        await using var host = await PythonHost.StartAsync("bridge_apps:failing_app");
        using var response = await host.Client.GetAsync("/");
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.DoesNotContain("LookupError", await response.Content.ReadAsStringAsync());
        var logged = await host.Logs.WaitForAsync(static e => e.Is(1));
        var text = logged.Exception!.Message;
        Assert.Contains("LookupError: python app failed on purpose", text);
        Assert.Contains("bridge_apps.py", text);
        Assert.Contains("failing_app", text);
    }

    [PythonFact]
    public async Task Exception_after_the_headers_cuts_the_response_short()
    {
        await using var host = await PythonHost.StartAsync("bridge_apps:failing_late_app");
        using var response = await host.Client.GetAsync("/", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await Assert.ThrowsAnyAsync<Exception>(() => response.Content.ReadAsStringAsync());
        var logged = await host.Logs.WaitForAsync(static e => e.Is(2));
        Assert.Contains("python app failed after its headers", logged.Exception!.Message);
    }

    [PythonFact]
    public async Task Chunk_that_is_not_bytes_is_a_500()
    {
        await using var host = await PythonHost.StartAsync("bridge_apps:not_bytes_app");
        using var response = await host.Client.GetAsync("/");
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        var logged = await host.Logs.WaitForAsync(static e => e.Is(1));
        Assert.Contains("TypeError", logged.Exception!.Message);
    }

    [PythonFact]
    public async Task Threading_local_survives_between_requests_on_a_worker()
    {
        await using var host = await PythonHost.StartAsync("bridge_apps:local_app", static o => o.Threads = 1);
        var answers = new List<string[]>();
        for (var i = 0; i < 3; i++)
        {
            answers.Add((await host.Client.GetStringAsync("/")).Split(' '));
        }

        Assert.Single(answers.Select(static a => a[0]).Distinct());
        Assert.Equal(["1", "2", "3"], answers.Select(static a => a[1]));
    }

    [PythonFact]
    public async Task Generator_body_streams_every_chunk()
    {
        await using var host = await PythonHost.StartAsync("bridge_apps:stream_app");
        var body = await host.Client.GetByteArrayAsync("/?40");
        Assert.Equal(40 * 65536, body.Length);
        Assert.All(body, static b => Assert.Equal((byte)'x', b));
    }

    [PythonFact]
    public async Task File_wrapper_iterates_the_file_in_blocks()
    {
        Assert.Equal("wrapped file contents", await PythonHost.GetStringAsync("bridge_apps:file_wrapper_app"));
    }

    [PythonFact]
    public async Task Head_request_sends_no_body()
    {
        // Over a raw socket: HttpClient shows an empty HEAD body whatever the server sends. The GET pipelined
        // behind the HEAD must start right where the HEAD's head ends.
        await using var host = await PythonHost.StartAsync("bridge_apps:write_app");
        using var raw = host.Connect();
        await raw.SendAsync("HEAD / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        var (text, reset) = await raw.ReadToEndAsync();
        Assert.False(reset);
        var headEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4;
        Assert.StartsWith("HTTP/1.1 200 OK", text);
        Assert.StartsWith("HTTP/1.1 200 OK", text[headEnd..]);
        Assert.EndsWith("written then yielded\r\n0\r\n\r\n", text.Replace("\r\n8\r\n", "").Replace("\r\n5\r\n", "").Replace("\r\n7\r\n", ""));
    }

    [PythonFact]
    public async Task Python_apps_run_on_their_own_pool_of_python_threads()
    {
        await using var host = await PythonHost.StartAsync("bridge_apps:thread_name_app", static o => o.Threads = 2);
        var names = new HashSet<string>();
        for (var i = 0; i < 20; i++)
        {
            names.Add(await host.Client.GetStringAsync("/"));
        }

        // "Gateway python worker N", as the OS keeps it (15 bytes), and the thread's id.
        Assert.All(names, static name => Assert.StartsWith("Gateway python ", name));
        Assert.InRange(names.Count, 1, 2);
    }

    [PythonFact]
    public async Task Load_names_what_is_missing()
    {
        await using var host = await PythonHost.StartAsync(static (_, _) => { });
        var python = host.Services.GetRequiredService<PythonGateway>();
        var noModule = Assert.Throws<InvalidOperationException>(() => python.Load("no_such_module_here:app"));
        Assert.Contains("no_such_module_here", noModule.Message);
        Assert.Contains("ModuleNotFoundError", noModule.Message);
        var noAttribute = Assert.Throws<InvalidOperationException>(() => python.Load("bridge_apps:no_such_app"));
        Assert.Contains("no_such_app", noAttribute.Message);
        Assert.Throws<ArgumentException>(() => python.Load("bridge_apps:"));

        python.Load("bridge_apps:write_app");
        var loaded = await host.Logs.WaitForAsync(static e => e.Category == "Adapter.Python" && e.EventId.Id == 102);
        Assert.Contains("bridge_apps:write_app", loaded.Message, StringComparison.Ordinal);
    }
}
